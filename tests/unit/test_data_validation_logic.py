import re

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import tfdv_drift
from greenkfp.components._shared.errors import InputError, ValidationFailed
from greenkfp.components._shared.tfdv_schema import load_schema
from greenkfp.components._shared.tfdv_statistics import load_statistics
from greenkfp.components.data_validation import schema as schema_lib
from greenkfp.components.data_validation import statistics as stats_lib
from greenkfp.components.data_validation import task, validation
from greenkfp.components.data_validation.ingest import split_train_eval
from greenkfp.components.data_validation.report import (
    render_generate_statistics,
    render_validate_data,
)

pytestmark = pytest.mark.slow


def stats_of(df: pd.DataFrame, tmp_path, name="data"):
    path = str(tmp_path / name)
    uri_io.write_dataset(df, path)
    return stats_lib.compute_statistics(path)


@pytest.fixture(scope="module")
def train_eval(german_credit):
    return split_train_eval(german_credit, 0.2, seed=42, stratify_column="risk")


@pytest.fixture
def train_stats_and_schema(train_eval, tmp_path):
    train, _ = train_eval
    stats = stats_of(train, tmp_path, "train")
    schema = schema_lib.infer_schema(stats, categorical_features=["job"], required_columns=["risk"])
    return stats, schema


def test_summary_matches_pandas(tmp_path):
    df = pd.DataFrame(
        {"n": [1, 2, None, 4], "f": [0.5, None, None, 1.5], "s": ["a", None, "b", "a"]}
    )
    summary = stats_lib.summarize(stats_of(df, tmp_path))
    assert (summary.rows, summary.columns) == (4, 3)
    assert summary.missing_cells == int(df.isna().sum().sum()) == 4


def test_integer_column_with_gaps_stays_integer(tmp_path):
    from tensorflow_metadata.proto.v0 import schema_pb2

    full = pd.DataFrame({"n": [1, 2, 3, 4]})
    gappy = pd.DataFrame({"n": [1.0, None, 3.0, 4.0]})
    schema = schema_lib.infer_schema(stats_of(full, tmp_path, "full"))
    assert schema.feature[0].type == schema_pb2.INT
    _, result = validation.validate(stats_of(gappy, tmp_path, "gappy"), schema)
    assert result.anomalies == []


def test_statistics_files_round_trip_and_report_is_self_contained(train_eval, tmp_path):
    train, _ = train_eval
    data = str(tmp_path / "train")
    uri_io.write_dataset(train, data)
    stats_path = str(tmp_path / "stats.pb")
    outcome = task.run_generate_statistics(dataset_path=data, statistics_path=stats_path)
    assert outcome.summary.rows == len(train) == 800
    assert outcome.figures == {"rows": 800.0, "columns": 10.0, "missing_cells": 0.0}
    loaded = load_statistics(stats_path)
    assert stats_lib.summarize(loaded) == outcome.summary
    report = render_generate_statistics(outcome, {"energy_kwh": 1e-6, "energy_method": "rapl"})
    assert "Energy and carbon of this step" in report and "rapl" in report
    for column in train.columns:
        assert f"<h3>{column} " in report
    assert report.count("<svg") >= len(train.columns)
    # Nothing is fetched: no scripts, stylesheets or images by URL.
    assert not re.search(r"<(script|link|img|iframe)\b", report)
    assert not re.search(r"(src|href)=\"https?:", report)


def test_beam_path_gives_same_counts(train_eval, tmp_path):
    train, _ = train_eval
    data = str(tmp_path / "train.csv")
    uri_io.write_dataset(train, data)
    in_memory = stats_lib.summarize(stats_lib.compute_statistics(data))
    beam = stats_lib.summarize(
        stats_lib.compute_statistics(data, ["--runner=DirectRunner", "--direct_num_workers=1"])
    )
    assert (beam.rows, beam.columns) == (in_memory.rows, in_memory.columns)


def test_beam_options_without_a_runner_get_the_direct_runner(train_eval, tmp_path, monkeypatch):
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    train, _ = train_eval
    data = str(tmp_path / "train.csv")
    uri_io.write_dataset(train, data)
    seen = []
    monkeypatch.setattr(
        tfdv, "generate_statistics_from_csv", lambda **kwargs: seen.append(kwargs) or "stats"
    )
    local = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert stats_lib.compute_statistics(data, local) == "stats"
    options = seen[0]["pipeline_options"]
    # Never Beam's default runner (Prism), which downloads a binary at run time.
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    stats_lib.compute_statistics(data, ["--runner=DataflowRunner"])
    assert seen[1]["pipeline_options"].view_as(StandardOptions).runner == "DataflowRunner"


def test_schema_options(train_stats_and_schema):
    _, schema = train_stats_and_schema
    features = {f.name: f for f in schema.feature}
    assert features["job"].int_domain.is_categorical
    assert features["risk"].presence.min_fraction == 1.0
    assert features["age"].presence.min_fraction == 0.0
    domains = {d.name: set(d.value) for d in schema.string_domain}
    assert domains[features["housing"].domain] == {"own", "rent", "free"}


def test_schema_rejects_unknown_and_non_integer_columns(train_stats_and_schema):
    stats, _ = train_stats_and_schema
    with pytest.raises(InputError, match=r"\['salary'\] are not in the data"):
        schema_lib.infer_schema(stats, required_columns=["salary"])
    with pytest.raises(InputError, match="'sex' is not an integer column"):
        schema_lib.infer_schema(stats, categorical_features=["sex"])


def test_schema_round_trip_and_unreadable_schema(train_stats_and_schema, tmp_path):
    _, schema = train_stats_and_schema
    path = str(tmp_path / "schema.pbtxt")
    schema_lib.write_schema(schema, path)
    assert load_schema(path) == schema
    broken = tmp_path / "broken.pbtxt"
    broken.write_text("feature { name: 'x' type: NOT_A_TYPE }")
    with pytest.raises(InputError, match="cannot read schema at .*broken.pbtxt"):
        load_schema(str(broken))
    with pytest.raises(InputError, match="file not found"):
        load_schema(str(tmp_path / "missing.pbtxt"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_drift_on_a_resample(train_eval, train_stats_and_schema, tmp_path, seed):
    train, _ = train_eval
    stats, schema = train_stats_and_schema
    resample = train.sample(n=400, replace=True, random_state=seed)
    _, result = validation.validate(stats_of(resample, tmp_path), schema, baseline_stats=stats)
    assert result.drifted_features == []
    assert set(result.drift) == set(train.columns)


def test_drift_on_a_shifted_copy(train_eval, train_stats_and_schema, tmp_path):
    _, evaluation = train_eval
    stats, schema = train_stats_and_schema
    shifted = evaluation.copy()
    shifted["credit_amount"] = shifted["credit_amount"] * 3
    shifted["housing"] = np.where(shifted.index % 4 == 0, "own", "free")
    _, result = validation.validate(stats_of(shifted, tmp_path), schema, baseline_stats=stats)
    assert result.drifted_features == ["credit_amount", "housing"]
    assert result.figures["drifted_feature_count"] == 2.0
    assert result.drift["credit_amount"] > tfdv_drift.DEFAULT_NUMERIC_DRIFT_THRESHOLD
    drift_anomalies = {a.feature: a for a in result.anomalies}
    assert drift_anomalies["housing"].value == pytest.approx(result.drift["housing"])
    with pytest.raises(ValidationFailed, match=r"\['credit_amount', 'housing'\]"):
        validation.check_fail_on(result, "drift")
    validation.check_fail_on(result, "never")
    # A per-feature override silences one feature only.
    loose = tfdv_drift.DriftThresholds(per_feature={"credit_amount": 0.99})
    _, result = validation.validate(
        stats_of(shifted, tmp_path), schema, baseline_stats=stats, drift=loose
    )
    assert result.drifted_features == ["housing"]


def test_skew_against_serving_data(train_eval, train_stats_and_schema, tmp_path):
    _, evaluation = train_eval
    stats, schema = train_stats_and_schema
    serving = evaluation.assign(duration=evaluation["duration"] + 36)
    _, result = validation.validate(
        stats, schema, serving_stats=stats_of(serving, tmp_path, "serving")
    )
    assert "duration" in result.skewed_features
    assert result.figures["skewed_feature_count"] >= 1


def test_non_numeric_value_in_numeric_column(train_eval, train_stats_and_schema, tmp_path):
    _, evaluation = train_eval
    _, schema = train_stats_and_schema
    bad = evaluation.astype({"credit_amount": str})
    bad.loc[3, "credit_amount"] = "abc"
    _, result = validation.validate(stats_of(bad, tmp_path), schema)
    kinds = {(a.feature, a.kind) for a in result.anomalies}
    assert ("credit_amount", "UNEXPECTED_DATA_TYPE") in kinds
    with pytest.raises(ValidationFailed, match="credit_amount: Expected data of type: INT"):
        validation.check_fail_on(result, "anomalies")
    summary = render_validate_data(result, {})
    assert "| credit_amount | UNEXPECTED_DATA_TYPE |" in summary


def test_missing_required_and_unknown_category(train_eval, train_stats_and_schema, tmp_path):
    _, evaluation = train_eval
    _, schema = train_stats_and_schema
    bad = evaluation.copy()
    bad.loc[0:3, "risk"] = None
    bad.loc[5, "purpose"] = "spaceship"
    bad.loc[0:50, "age"] = None  # optional column: gaps are fine
    _, result = validation.validate(stats_of(bad, tmp_path), schema)
    assert {a.feature for a in result.anomalies} == {"risk", "purpose"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"numeric": 0.0}, "numeric drift threshold"),
        ({"categorical": 1.5}, "categorical drift threshold"),
        ({"per_feature": {"age": -1}}, "feature 'age'"),
    ],
)
def test_thresholds_out_of_range(kwargs, message):
    with pytest.raises(InputError, match=message):
        tfdv_drift.DriftThresholds(**kwargs)


def test_threshold_for_unknown_feature(train_stats_and_schema):
    stats, schema = train_stats_and_schema
    with pytest.raises(InputError, match=r"not in the schema: \['salary'\]"):
        validation.validate(
            stats,
            schema,
            baseline_stats=stats,
            drift=tfdv_drift.DriftThresholds(per_feature={"salary": 0.2}),
        )


def test_unknown_fail_on():
    empty = validation.ValidationResult([], {}, {}, {}, {})
    with pytest.raises(InputError, match="fail_on must be one of"):
        validation.check_fail_on(empty, "sometimes")


def test_drift_against_reference_statistics_beside_train(
    train_eval, train_stats_and_schema, tmp_path
):
    train, evaluation = train_eval
    stats, schema = train_stats_and_schema
    paths = {name: str(tmp_path / f"{name}.pb") for name in ("eval", "train", "reference")}
    older = train.assign(credit_amount=train["credit_amount"] * 3)
    for name, frame in [("eval", evaluation), ("train", train), ("reference", older)]:
        stats_lib.write_statistics(stats_of(frame, tmp_path, name), paths[name])
    schema_path = str(tmp_path / "schema.pbtxt")
    schema_lib.write_schema(schema, schema_path)

    def run(reference: str) -> validation.ValidationResult:
        return task.run_validate_data(
            statistics_path=paths["eval"],
            schema_path=schema_path,
            anomalies_path=str(tmp_path / "anomalies.pbtxt"),
            baseline_statistics_path=paths["train"],
            reference_statistics_path=reference,
        )

    plain = run("")
    assert plain.reference_drift == {} and plain.figures["max_reference_drift"] == 0.0
    result = run(paths["reference"])
    # Against train, eval data does not drift; against the older data, credit_amount does.
    assert result.drifted_features == []
    assert result.reference_drifted_features == ["credit_amount"]
    assert result.figures["reference_drifted_feature_count"] == 1.0
    assert result.figures["max_reference_drift"] == result.reference_drift["credit_amount"] > 0.1
    assert [a.feature for a in result.anomalies] == ["credit_amount"]
    assert "vs reference statistics" in result.anomalies[0].kind
    assert "Drift against the reference statistics" in render_validate_data(result, {})
    assert "credit_amount" in (tmp_path / "anomalies.pbtxt").read_text()
    with pytest.raises(ValidationFailed, match=r"\['credit_amount'\]"):
        validation.check_fail_on(result, "drift")


def test_given_schema_is_used_and_checked(train_eval, train_stats_and_schema, tmp_path):
    train, _ = train_eval
    stats, schema = train_stats_and_schema
    stats_path, curated, out = (str(tmp_path / n) for n in ("s.pb", "curated.pbtxt", "o.pbtxt"))
    stats_lib.write_statistics(stats, stats_path)
    schema.feature[0].presence.min_fraction = 0.5  # a curated change inference would not make
    schema_lib.write_schema(schema, curated)
    used = task.run_infer_schema(
        statistics_path=stats_path, schema_path=out, required_columns=["risk"], schema_uri=curated
    )
    assert used.schema == schema and load_schema(out) == schema
    del schema.feature[-1]
    schema_lib.write_schema(schema, curated)
    with pytest.raises(InputError, match=r"lacks column\(s\) \['age'\]"):
        task.run_infer_schema(statistics_path=stats_path, schema_path=out, schema_uri=curated)
    missing = str(tmp_path / "none.pbtxt")
    with pytest.raises(InputError, match="file not found"):
        task.run_infer_schema(statistics_path=stats_path, schema_path=out, schema_uri=missing)
