"""Fixtures the pipeline and CLI tests share."""

import json

import pytest

from greenkfp.components.deployment.registry import Registry

MODEL = "credit-risk"


@pytest.fixture
def registry(tmp_path):
    """A registry with versions 1-3 of credit-risk (3 live) and one leftover of a crash."""
    source = tmp_path / "model.pb"
    source.write_bytes(b"graph")
    base = tmp_path / "registry"
    reg = Registry(str(base))
    for auc in (0.71, 0.74, 0.78):
        recorded = {"candidate": {"auc": auc, "accuracy": auc - 0.05}}
        reg.push(
            MODEL,
            [(str(source), "saved_model.pb")],
            lambda version, uri, recorded=recorded: {"metrics.json": json.dumps(recorded).encode()},
        )
    (base / MODEL / ".staging" / "4-0123456789ab").mkdir()
    return base
