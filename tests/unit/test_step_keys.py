"""The keys and records that cross steps (components/_shared/step_keys.py, step_records.py)."""

import dataclasses
import json

import pytest

from greenkfp.components._shared import step_keys as keys
from greenkfp.components._shared.energy import EnergyReading
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_records import (
    BlessingRecord,
    Check,
    DeploymentRecord,
    RunOutcome,
    worst_fairness_gap,
)
from greenkfp.components.deployment.gate import evaluate
from greenkfp.components.deployment.policy import parse_policy


def test_energy_table_covers_every_field_of_a_reading():
    fields = {f.name for f in dataclasses.fields(EnergyReading)}
    assert set(keys.ENERGY_KEYS) | set(keys.ENERGY_METADATA_KEYS) == fields
    assert list(keys.ENERGY_UNITS) == [*keys.ENERGY_KEYS, *keys.ENERGY_METADATA_KEYS]
    assert keys.ENERGY_UNITS["emissions_kg_co2eq"] == "kg CO2eq"
    assert keys.ENERGY_FIGURES[0].heading == "energy (kWh)"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("false_negative_rate", "sex", 0.5), "false_negative_rate_gap_sex@0.5"),
        (("positive_rate", "sex_x_age", 0.25, keys.RATIO), "positive_rate_ratio_sex_x_age@0.25"),
        (
            ("true_positive_rate", "age", 0.5, keys.SIGNIFICANT),
            "true_positive_rate_gap_significant_age@0.5",
        ),
        (
            ("false_positive_rate", "sex", 0.5, keys.GAP, keys.BASELINE),
            "baseline_false_positive_rate_gap_sex@0.5",
        ),
        (
            ("false_positive_rate", "sex", 0.5, keys.RATIO, keys.DELTA),
            "delta_false_positive_rate_ratio_sex@0.5",
        ),
    ],
)
def test_fairness_key_builder_and_parser_agree(args, key):
    assert keys.fairness_key(*args) == key
    parsed = keys.parse_fairness_key(key)
    assert str(parsed) == key
    assert (parsed.metric, parsed.feature, parsed.threshold) == (args[0], args[1], f"{args[2]:g}")
    assert parsed.is_metric == (parsed.kind != keys.SIGNIFICANT and not parsed.role)


def test_parser_tells_a_metric_from_a_baseline_a_delta_and_a_flag():
    parse = keys.parse_fairness_key
    assert parse("false_positive_rate_gap_sex@0.5").is_metric
    assert parse("baseline_false_positive_rate_gap_sex@0.5").role == keys.BASELINE
    assert parse("delta_false_positive_rate_gap_sex@0.5").role == keys.DELTA
    flag = parse("false_positive_rate_gap_significant_sex@0.5")
    assert (flag.kind, flag.feature, flag.is_metric) == (keys.SIGNIFICANT, "sex", False)
    for other in ("auc", "max_fairness_gap", "baseline_auc", "max_false_positive_rate_gap"):
        assert parse(other) is None
    assert parse("false_positive_rate_gap_sex@high") is None
    assert parse("accuracy_gap_sex@0.5") is None  # not a compared rate
    gap = parse("false_positive_rate_gap_sex@0.5")
    assert str(gap.replace(kind=keys.RATIO)) == "false_positive_rate_ratio_sex@0.5"


def test_roles_of_any_key():
    assert keys.with_role(keys.BASELINE, "auc") == "baseline_auc"
    assert keys.split_role("delta_max_fairness_gap") == ("delta", "max_fairness_gap")
    assert keys.split_role("base_bytes") == ("", "base_bytes")
    with pytest.raises(ValueError, match="role"):
        keys.with_role("champion", "auc")
    with pytest.raises(ValueError, match="fairness metric"):
        keys.fairness_key("auc", "sex", 0.5)


def _blessing() -> dict:
    """What evaluate_gate writes for a candidate that fails min_auc, with no live model."""
    policy = parse_policy("min_auc: 0.7\nmin_improvement_vs_live: 0.0\n")
    result = evaluate(policy, fairness={"auc": 0.6}, champion_check=True)
    result.inputs = {"fairness": {"uri": "f", "metrics": {"auc": 0.6}}}
    return json.loads(json.dumps(result.to_dict()))


def test_blessing_round_trips_and_reads_its_metadata_part():
    written = _blessing()
    record = BlessingRecord.from_dict(written)
    assert record.to_dict() == written
    assert [c.passed for c in record.checks] == [False, None]
    assert record.checks[0].reason() == "min_auc: 0.6 < 0.7 (fairness.auc)"
    assert record.input_metrics("fairness") == {"auc": 0.6}
    assert record.input_metrics("training") is None
    part = BlessingRecord.from_dict(record.metadata)
    assert part.checks == record.checks and part.inputs == {}
    assert BlessingRecord.holds_one(record.metadata) and not BlessingRecord.holds_one({})
    assert Check.from_dict({"name": "x", "verdict": "pass"}).metric == ""
    assert record.figures == {"approved": 0.0, "checks_passed": 0.0, "checks_failed": 1.0}
    assert BlessingRecord.from_figures(record.figures) == BlessingRecord(approved=False)
    assert BlessingRecord.from_figures({}) is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("approved", "blessing: must be a dict"),
        ({"approved": "yes"}, "blessing: has no boolean 'approved'"),
        ({"approved": True, "checks": "all"}, "blessing: 'checks' must be a list of dicts"),
    ],
)
def test_bad_blessing_is_an_input_error(bad, message):
    with pytest.raises(InputError, match=message):
        BlessingRecord.from_dict(bad)


def test_deployment_record_reads_what_deploy_model_writes():
    outcome = DeploymentRecord(
        deployed=True,
        registry_uri="/r",
        model_name="m",
        version=2,
        pushed_uri="/r/m/2",
        live=True,
        live_version=2,
        previous_live=1,
        canary={"rows": 4},
    )
    written = json.loads(outcome.to_json())
    assert DeploymentRecord.from_dict(written).to_dict() == written == outcome.to_dict()
    assert outcome.figures == {"deployed": 1.0, "version": 2.0, "live": 1.0, "canary_rows": 4.0}
    told = DeploymentRecord.from_figures(outcome.figures)
    assert (told.deployed, told.version, told.live) == (True, 2, True)
    assert DeploymentRecord.from_figures({"version": 2.0}) is None
    metadata = {k: written[k] for k in DeploymentRecord.METADATA_KEYS}
    assert DeploymentRecord.from_dict(metadata).metadata == metadata == outcome.metadata
    with pytest.raises(InputError, match="deployment: has no boolean 'deployed'"):
        DeploymentRecord.from_dict({"deployed": 1})


def test_run_outcome_from_records_and_from_outputs():
    fairness = {"false_positive_rate_gap_sex@0.5": 0.1, "delta_positive_rate_gap_sex@0.5": 0.4}
    assert worst_fairness_gap(fairness) == 0.1  # a delta is not a gap
    assert worst_fairness_gap({**fairness, "max_fairness_gap": 0.2}) == 0.2
    outcome = RunOutcome.from_outputs(
        [
            {"size_ratio": 3.0, "latency_speedup_p50": 1.2},
            {"approved": True},  # the gate's output parameter: no checks, not a blessing
            BlessingRecord.from_dict(_blessing()).metadata,
            {"deployed": False, "version": 0, "pushed_uri": ""},
            fairness,
        ]
    )
    assert outcome.approved is False and [c.name for c in outcome.checks][0] == "min_auc"
    assert outcome.deployed is False and outcome.deployed_version is None
    assert (outcome.size_ratio, outcome.latency_speedup, outcome.worst_fairness_gap) == (
        3.0,
        1.2,
        0.1,
    )
    assert RunOutcome.from_outputs([{}]) == RunOutcome()
