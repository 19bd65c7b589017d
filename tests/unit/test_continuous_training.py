"""Drift measures and the retrain policy (components/continuous_training): plain logic, fast."""

import json

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.retrain_decision import RetrainDecision, energy_avoided_kwh
from greenkfp.components.continuous_training import drift, policy

RNG = np.random.default_rng(7)
REFERENCE = pd.DataFrame({"age": RNG.normal(35, 10, 800), "amount": RNG.lognormal(8, 1, 800)})


def test_psi_is_zero_for_the_same_data_and_large_for_a_shift():
    assert drift.psi(REFERENCE["age"], REFERENCE["age"]) == 0.0
    same_distribution = RNG.normal(35, 10, 800)
    assert drift.psi(REFERENCE["age"], same_distribution) < 0.1
    assert drift.psi(REFERENCE["age"], REFERENCE["age"] + 10) > 0.25


def test_psi_bins_are_quantiles_of_the_reference_so_an_empty_bin_stays_finite():
    shifted_out = np.full(100, 1000.0)  # every new value above the reference's range
    value = drift.psi(REFERENCE["age"], shifted_out)
    assert np.isfinite(value) and value > 5


def test_ks_two_sample_matches_scipy():
    from scipy import stats

    statistic, p_value = drift.ks_two_sample(REFERENCE["age"], REFERENCE["age"] + 5)
    expected = stats.ks_2samp(REFERENCE["age"], REFERENCE["age"] + 5)
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


def test_numeric_drift_flags_only_the_shifted_feature():
    current = REFERENCE.assign(amount=REFERENCE["amount"] * 3)
    findings = drift.numeric_drift(REFERENCE, current, ["age", "amount"], 0.25, 0.01, 0.1)
    drifted = {(f.feature, f.test) for f in findings if f.drifted}
    assert drifted == {("amount", "psi"), ("amount", "ks")}
    ks = next(f for f in findings if f.feature == "amount" and f.test == "ks")
    assert ks.p_value < 0.01 and "p=" in ks.reason() and "amount: ks" in ks.reason()


def test_numeric_drift_names_a_missing_column_and_an_empty_one():
    with pytest.raises(InputError, match="no column 'amount'"):
        drift.numeric_drift(REFERENCE, REFERENCE[["age"]], ["amount"], 0.25, 0.01, 0.1)
    empty = REFERENCE.assign(age=np.nan)
    with pytest.raises(InputError, match="'current' has no numeric values"):
        drift.psi(REFERENCE["age"], empty["age"])


def finding(feature: str, value: float, threshold: float = 0.25) -> drift.DriftFinding:
    return drift.DriftFinding(feature, drift.PSI, value, threshold, value > threshold)


QUALITY_OK = {
    "metric": "AUC",
    "recorded": 0.8,
    "on_new_data": 0.79,
    "drop": 0.01,
    "threshold": 0.02,
    "dropped": False,
    "rows": 200,
}
QUALITY_DROPPED = {**QUALITY_OK, "on_new_data": 0.7, "drop": 0.1, "dropped": True}


def test_no_drift_and_no_quality_drop_skips_with_the_largest_figures():
    retrain, reasons = policy.decide("drift_or_quality_drop", [finding("age", 0.01)], QUALITY_OK)
    assert retrain is False
    assert reasons == [
        "no drift: largest age: psi 0.01 <= 0.25",
        "no quality drop: live AUC 0.8000 recorded, 0.7900 on the new data (200 labelled "
        "rows): drop 0.0100 <= 0.0200",
    ]


def test_drift_retrains_naming_each_drifted_feature():
    findings = [finding("age", 0.01), finding("amount", 0.9)]
    retrain, reasons = policy.decide("drift", findings, QUALITY_DROPPED)
    assert retrain is True
    assert reasons == ["drift: amount: psi 0.9 > 0.25"]  # drift policy ignores quality


def test_quality_drop_without_drift_retrains():
    retrain, reasons = policy.decide(
        "drift_or_quality_drop", [finding("age", 0.01)], QUALITY_DROPPED
    )
    assert retrain is True
    assert reasons[-1].startswith("quality drop: live AUC 0.8000 recorded, 0.7000")
    assert reasons[-1].endswith("drop 0.1000 > 0.0200")
    assert policy.decide("quality_drop", [finding("age", 0.9)], QUALITY_OK)[0] is False


def test_always_retrains_and_quality_needs_labels():
    assert policy.decide("always", [], {}) == (True, ["policy 'always': retrain on every run"])
    retrain, reasons = policy.decide(
        "drift_or_quality_drop", [finding("age", 0.01)], {}, "no label column 'risk'"
    )
    assert retrain is False and reasons[-1] == "quality not measured: no label column 'risk'"
    with pytest.raises(InputError, match="needs labelled new data: no label column"):
        policy.decide("quality_drop", [], {}, "no label column 'risk'")


def test_unknown_policy_and_bad_thresholds_are_named():
    with pytest.raises(InputError, match="retrain policy must be one of .* got 'weekly'"):
        policy.decide("weekly", [], {})
    with pytest.raises(InputError, match="ks_p_value must be in"):
        policy.Thresholds(ks_p_value=0)
    with pytest.raises(InputError, match="psi must be above 0"):
        policy.Thresholds(psi=-1)


def test_decision_record_round_trips_and_is_told_by_its_shape(tmp_path):
    record = RetrainDecision(
        retrain=False,
        reasons=["no drift: largest age: psi 0.01 <= 0.25"],
        policy="drift",
        live_version=3,
        live_pipeline_energy_kwh=0.0004,
    )
    path = tmp_path / "decision"
    path.write_text(record.to_json())
    assert RetrainDecision.read(str(path)) == record
    assert RetrainDecision.holds_one(record.metadata)
    assert not RetrainDecision.holds_one({"retrain": 1.0})  # the Metrics' figure
    path.write_text("{not json")
    with pytest.raises(InputError, match=f"retraining decision {path} cannot be read"):
        RetrainDecision.read(str(path))
    path.write_text(json.dumps({"reasons": []}))
    with pytest.raises(InputError, match="has no boolean 'retrain'"):
        RetrainDecision.read(str(path))


def test_energy_avoided_is_the_live_pipeline_energy_less_what_the_run_spent():
    assert energy_avoided_kwh(False, 0.0005, 0.0001) == pytest.approx(0.0004)
    assert energy_avoided_kwh(True, 0.0005, 0.0004) == 0.0
    assert energy_avoided_kwh(False, None, 0.0001) is None


def test_false_negative_rate_gap_per_feature_beside_the_recorded_one():
    from greenkfp.components.continuous_training.fairness_check import (
        fairness_reasons,
        false_negative_rate_gaps,
    )

    df = pd.DataFrame({"sex": ["f"] * 40 + ["m"] * 40, "age": [20] * 20 + [50] * 60})
    labels = np.ones(80, dtype=int)
    scores = np.array([0.2] * 10 + [0.9] * 30 + [0.9] * 40)  # 10 of 40 women missed
    found = false_negative_rate_gaps(
        df,
        labels,
        scores,
        ["sex", "age"],
        {"age": [25, 40]},
        {"false_negative_rate_gap_sex@0.5": 0.1},
    )
    assert found[0] == {
        "feature": "sex",
        "metric": "false_negative_rate gap",
        "on_new_data": 0.25,
        "recorded": 0.1,
        "slices": 2,
    }
    # age: <25 holds 20 rows (10 missed), [40, ...) 60 rows (none missed)
    assert found[1]["on_new_data"] == pytest.approx(0.5) and found[1]["recorded"] is None
    assert fairness_reasons(found) == [
        "fairness (reported, not a retrain criterion): false_negative_rate gap by sex 0.250 "
        "on the new data, 0.100 recorded",
        "fairness (reported, not a retrain criterion): false_negative_rate gap by age 0.500 "
        "on the new data, – recorded",
    ]
    with pytest.raises(InputError, match="no sensitive feature column 'race'"):
        false_negative_rate_gaps(df, labels, scores, ["race"], {}, {})


def test_retraining_figures_read_the_decision_by_its_shape():
    from greenkfp.components._shared.retrain_decision import retraining_figures

    record = RetrainDecision(retrain=False, reasons=["no drift"], live_pipeline_energy_kwh=0.001)
    outputs = [{"approved": True, "checks": []}, {"retrain": 0.0}, record.metadata]
    assert retraining_figures(outputs, 0.0002) == {
        "retrained": False,
        "retrain_reasons": ["no drift"],
        "energy_avoided_kwh": pytest.approx(0.0008),
    }
    assert retraining_figures([{"deployed": True}], 0.0002) == {}
