"""Upstream outputs the component tests share, made once per session through ``.python_func``.

Each fixture runs the real upstream wrapper in-process on the embedded data (no kfp.local,
no subprocess) and hands on its outputs as the next step receives them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from helpers import EMBEDDED_DATA
from kfp import dsl
from stand_ins import StandIns


@pytest.fixture(scope="session")
def imported(tmp_path_factory) -> SimpleNamespace:
    """import_csv on the embedded data: train_dataset, eval_dataset, metrics."""
    from greenkfp.components import import_csv

    step = StandIns(tmp_path_factory.mktemp("import"))
    out = SimpleNamespace(
        train_dataset=step.output(dsl.Dataset, "train_dataset"),
        eval_dataset=step.output(dsl.Dataset, "eval_dataset"),
        metrics=step.output(dsl.Metrics, "metrics"),
    )
    import_csv.python_func(data_uri=str(EMBEDDED_DATA), label_column="risk", **vars(out))
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory, imported) -> SimpleNamespace:
    """train_model for a few epochs on ``imported``: model, metrics, report, ..."""
    from greenkfp.components import train_model

    step = StandIns(tmp_path_factory.mktemp("train"))
    out = SimpleNamespace(
        model=step.output(dsl.Model, "model"),
        metrics=step.output(dsl.Metrics, "metrics"),
        classification_metrics=step.output(dsl.ClassificationMetrics, "classification_metrics"),
        report=step.output(dsl.HTML, "report"),
    )
    train_model.python_func(
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        label_column="risk",
        categorical_features=["job"],
        epochs=4,
        country_iso_code="DEU",
        **vars(out),
    )
    return out


@pytest.fixture(scope="session")
def compressed(tmp_path_factory, imported, trained) -> SimpleNamespace:
    """compress_model (dynamic-range TFLite, no fine-tuning) of ``trained``."""
    from greenkfp.components import compress_model

    step = StandIns(tmp_path_factory.mktemp("compress"))
    out = SimpleNamespace(
        compressed_model=step.output(dsl.Model, "compressed_model"),
        metrics=step.output(dsl.Metrics, "metrics"),
        report=step.output(dsl.HTML, "report"),
    )
    compress_model.python_func(
        model=StandIns.passed_on(trained.model),
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        methods=["dynamic"],
        latency_runs=20,
        **vars(out),
    )
    return out
