"""Parsing the gate's policy: defaults, YAML and JSON, and every kind of bad input."""

import json

import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment.policy import DEFAULTS, THRESHOLDS, parse_policy


def test_empty_policy_takes_the_defaults():
    policy = parse_policy("")
    assert policy.thresholds == {"min_auc": 0.5, "min_improvement_vs_live": 0.0}
    assert policy.max_fairness_gap is None
    assert (policy.fairness_threshold, policy.champion_metric) == (0.5, "auc")
    assert policy.to_dict() == DEFAULTS


def test_yaml_and_json_give_the_same_policy():
    document = {
        "min_auc": 0.75,
        "min_accuracy": None,
        "max_model_bytes": 200000,
        "max_fairness_gap": {"false_positive_rate": {"sex": 0.1}, "positive_rate": 0.2},
        "champion_metric": "accuracy",
    }
    yaml_text = """
    min_auc: 0.75
    min_accuracy: null          # off
    max_model_bytes: 200000
    max_fairness_gap:
      false_positive_rate: {sex: 0.1}
      positive_rate: 0.2
    champion_metric: accuracy
    """
    from_yaml = parse_policy("\n".join(line[4:] for line in yaml_text.splitlines()))
    from_json = parse_policy(json.dumps(document))
    assert from_yaml == from_json
    assert from_json.thresholds == {
        "min_auc": 0.75,
        "max_model_bytes": 200000.0,
        "min_improvement_vs_live": 0.0,
    }
    assert from_json.max_fairness_gap == {
        "false_positive_rate": {"sex": 0.1},
        "positive_rate": 0.2,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("min_auc: [0.7", "not valid YAML or JSON"),
        ('{"min_auc": 0.7', "not valid YAML or JSON"),
        ("- min_auc\n- 0.7", "must be a mapping"),
        ("0.7", "must be a mapping"),
        ("min_acc: 0.7", "unknown key(s) min_acc; known keys: min_auc"),
        ("min_auc: 0.7\nmax_latency: 3", "unknown key(s) max_latency"),
        ("champion_metric: f1", "champion_metric must be one of auc, accuracy"),
        ("fairness_threshold: 2", "fairness_threshold must be in [0, 1]"),
        ("max_fairness_gap: {false_alarm_rate: 0.1}", "unknown fairness metric 'false_alarm_rate'"),
        ("max_fairness_gap: {}", "empty mapping"),
        ("max_fairness_gap: {positive_rate: {}}", "max_fairness_gap.positive_rate is an empty"),
        ("max_fairness_gap: {positive_rate: {sex: -0.1}}", "positive_rate.sex must be in [0, 1]"),
        ("max_fairness_gap: 1.5", "max_fairness_gap must be in [0, 1]"),
        ("max_model_bytes: 1000.5", "max_model_bytes must be a whole number"),
        ("min_auc: null\nmin_improvement_vs_live: 0.0", "turns every check off"),
    ],
)
def test_bad_policies_are_refused_with_the_key_named(text, message):
    with pytest.raises(InputError) as err:
        parse_policy(text)
    assert message in str(err.value)


@pytest.mark.parametrize("key", sorted(THRESHOLDS))
@pytest.mark.parametrize("value", [-0.5, 1e12, "0.7", True, float("inf"), [0.1]])
def test_every_threshold_is_range_and_type_checked(key, value):
    spec = THRESHOLDS[key]
    if isinstance(value, float) and value == 1e12 and spec.high > 1:
        return  # a large bound is fine for unbounded keys
    if value == -0.5 and spec.low < 0:
        value = -1.5  # min_improvement_vs_live allows a small regression, not this one
    with pytest.raises(InputError, match=rf"policy: {key} must be"):
        parse_policy(json.dumps({key: value}) if value != float("inf") else f"{key}: .inf")


@pytest.mark.parametrize("key", sorted(THRESHOLDS))
def test_every_threshold_accepts_its_bounds(key):
    spec = THRESHOLDS[key]
    for value in (spec.low, min(spec.high, 1.0)):
        parsed = parse_policy(json.dumps({"min_auc": 0.5, key: value}))
        assert parsed.thresholds[key] == value


def test_exponent_numbers_are_numbers_in_yaml_and_json():
    # PyYAML's YAML 1.1 reads 1e-5 as a string; json.dumps writes small floats that way.
    from_json = parse_policy(json.dumps({"max_inference_energy_kwh_per_1k": 0.00001}))
    from_yaml = parse_policy("max_inference_energy_kwh_per_1k: 1e-5\nmax_model_bytes: 2E+5\n")
    assert from_json.thresholds["max_inference_energy_kwh_per_1k"] == 1e-05
    assert from_yaml.thresholds["max_inference_energy_kwh_per_1k"] == 1e-05
    assert from_yaml.thresholds["max_model_bytes"] == 200000
