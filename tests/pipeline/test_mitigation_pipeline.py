"""`greenkfp run` with a planted bias: mitigation closes the gap, the gate passes, it deploys.

The data is the benchmark's (``benchmarks/fairness_mitigation.py``): 30% of the female
positives' training labels flipped, the evaluation labels true; the policy bounds the
false negative rate gap by sex at 0.1 and names ``mitigation: auto``.
"""

import importlib.util
import json

import pytest
from helpers import REPO, load_summary, run_cli

from greenkfp.components._shared import group_thresholds
from greenkfp.components.deployment.registry import Registry

pytestmark = pytest.mark.slow


def _benchmark():
    path = REPO / "benchmarks" / "fairness_mitigation.py"
    spec = importlib.util.spec_from_file_location("fairness_mitigation_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_planted_gap_is_mitigated_and_the_mitigated_model_deploys(tmp_path):
    bench = _benchmark()
    train, evaluation = bench.planted_data(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps(bench.PLANTED_POLICY))
    out, registry = tmp_path / "run", tmp_path / "registry"
    result = run_cli(
        "run",
        *("--output-dir", str(out), "--registry", str(registry), "--policy", str(policy)),
        *("--data", str(train), "--eval-data", str(evaluation), "--label-column", "risk"),
        *("--sensitive-features", "sex,age", "--compression", "dynamic"),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = load_summary(out)
    assert "[9/12] Fairness mitigation (by policy) (mitigate-fairness) ok" in result.stdout
    assert summary["mitigation"] == "thresholds", summary["mitigation_reason"]
    (gap,) = summary["mitigation_gaps"]
    assert (gap["metric"], gap["feature"], gap["bound"]) == ("false_negative_rate", "sex", 0.1)
    assert gap["before"]["gap"] > 0.2 and gap["after"]["gap"] <= 0.1
    # The gate judged the mitigated gap, and what deployed carries the thresholds.
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["max_fairness_gap[false_negative_rate/sex]"]["value"] == gap["after"]["gap"]
    assert summary["approved"] is True and summary["deployed"] is True
    version = Registry(str(registry)).version_uri("greenkfp-model", summary["deployed_version"])
    assert group_thresholds.read(version).feature == "sex"
    assert "Fairness mitigation  thresholds (per-group thresholds by sex" in result.stdout
