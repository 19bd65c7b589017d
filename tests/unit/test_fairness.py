"""Fairness logic without TFMA: settings, slicing, intervals, gaps, keys, report."""

import math

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components.fairness import gaps as gaps_lib
from greenkfp.components.fairness import task
from greenkfp.components.fairness.gaps import (
    Gap,
    SliceResult,
    baseline_metrics,
    change_statements,
    compute_gaps,
    difference_interval,
    gap_metrics,
    rates_from_counts,
    wilson_interval,
)
from greenkfp.components.fairness.report import render_evaluate_fairness
from greenkfp.components.fairness.slicing import (
    MISSING_SLICE,
    SliceSettings,
    bucket_labels,
    bucketize,
    slice_columns,
    threshold_label,
    value_order,
)

# ----------------------------------------------------------------------------- settings


def test_settings_defaults_and_groups():
    s = SliceSettings.create(["sex", "age"], {"age": [25, 40, 60]}, [["sex", "age"]])
    assert s.thresholds == (0.5,) and s.min_slice_size == 20
    assert s.groups() == [("sex", ("sex",)), ("age", ("age",)), ("sex_x_age", ("sex", "age"))]
    assert s.to_dict()["feature_buckets"] == {"age": [25.0, 40.0, 60.0]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"thresholds": [0.5, 1.0]}, "threshold 1.0 must be strictly between 0 and 1"),
        ({"thresholds": [0.0]}, "threshold 0.0 must be strictly between 0 and 1"),
        ({"thresholds": [-0.2]}, "threshold -0.2 must be strictly between 0 and 1"),
        ({"thresholds": [float("nan")]}, "must be strictly between 0 and 1"),
        ({"thresholds": ["half"]}, "threshold 'half' is not a number"),
        ({"thresholds": [0.5, 0.50]}, "thresholds ['0.5'] are given more than once"),
        ({"feature_buckets": {"income": [1]}}, "feature_buckets names 'income'"),
        ({"feature_buckets": {"age": [40, 25]}}, "must be strictly increasing"),
        ({"feature_buckets": {"age": []}}, "feature_buckets['age'] is empty"),
        ({"feature_crosses": [["sex", "job"]]}, "names ['job'], not in sensitive_features"),
        ({"feature_crosses": [["sex"]]}, "at least two different features"),
        ({"min_slice_size": 0}, "min_slice_size must be a whole number of at least 1"),
    ],
)
def test_settings_errors(kwargs, message):
    with pytest.raises(InputError) as err:
        SliceSettings.create(["sex", "age"], **kwargs)
    assert message in str(err.value)


def test_settings_need_sensitive_features():
    with pytest.raises(InputError, match="sensitive_features is empty"):
        SliceSettings.create([])
    with pytest.raises(InputError, match=r"lists \['sex'\] more than once"):
        SliceSettings.create(["sex", "sex"])


def test_threshold_label():
    assert [threshold_label(t) for t in (0.5, 0.25, 0.125, 0.3)] == ["0.5", "0.25", "0.125", "0.3"]


# ----------------------------------------------------------------------------- slicing


def test_buckets_hold_their_lower_boundary():
    assert bucket_labels([25, 40, 60]) == ["<25", "[25, 40)", "[40, 60)", ">=60"]
    ages = pd.Series([18, 25, 39.9, 40, 60, 75, np.nan], name="age")
    assert bucketize(ages, [25, 40, 60]).tolist() == [
        "<25",
        "[25, 40)",
        "[25, 40)",
        "[40, 60)",
        ">=60",
        ">=60",
        MISSING_SLICE,
    ]


def test_bucketed_column_with_text_is_refused():
    with pytest.raises(InputError, match=r"column 'age' has feature_buckets .* \['old'\]"):
        bucketize(pd.Series([20, "old"], name="age"), [25])


def test_slice_columns(german_credit):
    df = german_credit.head(100).copy()
    df.loc[0, "sex"] = None
    s = SliceSettings.create(["sex", "age", "job"], {"age": [25, 40, 60]})
    cols = slice_columns(df, s, "risk")
    assert list(cols.columns) == ["sex", "age", "job"] and cols.index.equals(df.index)
    assert cols.loc[0, "sex"] == MISSING_SLICE
    assert set(cols["job"]) <= {"0", "1", "2", "3"}
    expected_age = np.where(df.age < 25, "<25", np.where(df.age < 40, "[25, 40)", "x"))
    young = df.age < 40
    assert (cols.loc[young, "age"].to_numpy() == expected_age[young.to_numpy()]).all()
    order = value_order(cols, s)
    assert order["sex"] == ["female", "male", MISSING_SLICE]
    assert order["age"][0] == "<25" and order["age"][-1] == ">=60"


@pytest.mark.parametrize(
    "features, change, message",
    [
        (["gender"], None, "sensitive feature 'gender' is not a column of the evaluation data"),
        (["risk"], None, "sensitive feature 'risk' is the label column"),
        (["sex"], "one_sex", "all 200 rows fall in one slice of sensitive feature 'sex'"),
        (["credit_amount"], None, "distinct values (more than 50); bucket it"),
    ],
)
def test_slice_column_errors(german_credit, features, change, message):
    df = german_credit.head(200).copy()
    if change == "one_sex":
        df["sex"] = "male"
    with pytest.raises(InputError) as err:
        slice_columns(df, SliceSettings.create(features), "risk")
    assert message in str(err.value)


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def eval_csv(german_credit, write_csv):
    return write_csv(german_credit.head(200))


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (
            None,
            {"sensitive_features": ["gender", "age"]},
            "sensitive feature 'gender' is not a column",
        ),
        ("one_sex", {}, "all 200 rows fall in one slice of sensitive feature 'sex'"),
        ("three_labels", {}, "label column 'risk' must hold exactly 2 distinct values"),
        (None, {"positive_label": "good"}, "positive label 'good' does not occur"),
        (None, {"label_column": "target"}, "label column 'target' not found"),
        (None, {"thresholds": [0.5, 1.5]}, "threshold 1.5 must be strictly between 0 and 1"),
    ],
)
def test_bad_input_fails_before_any_model_is_loaded(
    german_credit, write_csv, tmp_path, change, kwargs, message
):
    df = german_credit.head(200).copy()
    if change == "one_sex":
        df["sex"] = "female"
    if change == "three_labels":
        df.loc[:9, "risk"] = 2
    args = {
        "label_column": "risk",
        "positive_label": "1",
        "sensitive_features": ["sex", "age"],
        "feature_buckets": {"age": [25, 40, 60]},
        **kwargs,
    }
    with pytest.raises(InputError) as err:
        task.run_evaluate_fairness(
            model_path=str(tmp_path / "no_model"),
            eval_path=write_csv(df),
            output_dir=str(tmp_path / "out"),
            **args,
        )
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_scores_must_be_probabilities(german_credit, tmp_path):
    s = SliceSettings.create(["sex"])
    df = german_credit.head(20)
    with pytest.raises(InputError, match="candidate's scores has 3 scores for 20 rows"):
        task.evaluate_scores(df, [0.1, 0.2, 0.3], "risk", 1, s, str(tmp_path))
    with pytest.raises(InputError, match=r"probabilities in \[0, 1\]; 1 are not"):
        task.evaluate_scores(df, [0.5] * 19 + [1.5], "risk", 1, s, str(tmp_path))


# ----------------------------------------------------------------------------- intervals


def test_wilson_interval():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(3.841459 / 13.841459, abs=1e-6)
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow, wide = wilson_interval(500, 1000), wilson_interval(5, 10)
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 5


def test_difference_interval_matches_newcombe():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80.
    a = rates_from_counts(tp=56, fp=0, tn=0, fn=14)["true_positive_rate"]
    b = rates_from_counts(tp=48, fp=0, tn=0, fn=32)["true_positive_rate"]
    assert difference_interval(a, b) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_rates_from_counts():
    r = rates_from_counts(tp=30, fp=10, tn=40, fn=20)
    assert r["false_positive_rate"].value == 10 / 50
    assert r["false_negative_rate"].value == 20 / 50
    assert r["true_positive_rate"].value == 30 / 50
    assert r["positive_rate"].value == 40 / 100
    assert r["positive_rate"].denominator == 100
    none_negative = rates_from_counts(tp=3, fp=0, tn=0, fn=1)["false_positive_rate"]
    assert math.isnan(none_negative.value) and none_negative.denominator == 0


# ----------------------------------------------------------------------------- gaps


def make_slice(group, values, counts, example_count=None, quality=None):
    """A slice from ``{threshold: (tp, fp, tn, fn)}``."""
    n = example_count or int(sum(next(iter(counts.values()))))
    result = SliceResult(group=group, values=values, example_count=n, quality=quality or {})
    for t, (tp, fp, tn, fn) in counts.items():
        label = threshold_label(t)
        result.counts[label] = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
        result.rates[label] = rates_from_counts(tp, fp, tn, fn)
    return result


@pytest.fixture
def slices():
    overall = make_slice("overall", {}, {0.5: (130, 40, 110, 50)}, quality={"auc": 0.8})
    female = make_slice("sex", {"sex": "female"}, {0.5: (30, 20, 30, 40)})
    male = make_slice("sex", {"sex": "male"}, {0.5: (100, 20, 80, 10)})
    tiny = make_slice("sex", {"sex": "other"}, {0.5: (0, 0, 0, 8)})
    return [overall, female, male, tiny]


def test_compute_gaps_by_hand(slices):
    settings = SliceSettings.create(["sex"], min_slice_size=10)
    gaps = {g.metric: g for g in compute_gaps(slices, settings)}
    assert set(gaps) == set(gaps_lib.GAP_METRICS)
    fnr = gaps["false_negative_rate"]
    # female FNR 40/70, male 10/110; the 8-row slice is left out.
    assert fnr.gap == pytest.approx(40 / 70 - 10 / 110, abs=1e-12)
    assert fnr.ratio == pytest.approx((10 / 110) / (40 / 70), abs=1e-12)
    assert (fnr.max_slice, fnr.min_slice, fnr.worst_slice) == (
        "sex=female",
        "sex=male",
        "sex=female",
    )
    assert fnr.excluded == {"sex=other": "8 examples, below min_slice_size 10"}
    assert fnr.significant and 0 < fnr.ci_low < fnr.gap < fnr.ci_high
    assert fnr.gap_key == "false_negative_rate_gap_sex@0.5"
    assert fnr.ratio_key == "false_negative_rate_ratio_sex@0.5"
    tpr = gaps["true_positive_rate"]
    assert tpr.worst_slice == "sex=female" and tpr.gap == pytest.approx(fnr.gap, abs=1e-12)
    # Positive rate: female 50/120, male 120/210, overall 170/330: female is furthest.
    assert gaps["positive_rate"].worst_slice == "sex=female"
    # FPR: female 20/50, male 20/100.
    assert gaps["false_positive_rate"].gap == pytest.approx(0.2, abs=1e-12)


def test_tiny_slice_decides_nothing(slices):
    # With a low min_slice_size the 8-row slice takes part: its FNR of 1.0 is the maximum
    # but it has no negatives, so no FPR at all.
    settings = SliceSettings.create(["sex"], min_slice_size=1)
    gaps = {g.metric: g for g in compute_gaps(slices, settings)}
    assert gaps["false_negative_rate"].max_slice == "sex=other"
    assert gaps["false_positive_rate"].excluded == {
        "sex=other": "no actual negatives: FPR is undefined"
    }


def test_small_slice_gap_is_not_significant():
    a = make_slice("sex", {"sex": "a"}, {0.5: (4, 1, 4, 1)})  # FNR 0.2
    b = make_slice("sex", {"sex": "b"}, {0.5: (2, 1, 4, 3)})  # FNR 0.6
    gap = next(
        g
        for g in compute_gaps([a, b], SliceSettings.create(["sex"], min_slice_size=5))
        if g.metric == "false_negative_rate"
    )
    assert gap.gap == pytest.approx(0.4) and not gap.significant and gap.ci_low < 0


def test_no_gap_with_fewer_than_two_eligible_slices(slices):
    settings = SliceSettings.create(["sex"], min_slice_size=150)
    assert compute_gaps(slices, settings) == []
    assert gap_metrics([]) == {"max_significant_fairness_gap": 0.0, "significant_gap_count": 0.0}


def test_ratio_of_all_zero_rates_is_one():
    a = make_slice("sex", {"sex": "a"}, {0.5: (5, 0, 5, 0)})
    b = make_slice("sex", {"sex": "b"}, {0.5: (6, 0, 4, 0)})
    fpr = next(
        g
        for g in compute_gaps([a, b], SliceSettings.create(["sex"], min_slice_size=1))
        if g.metric == "false_positive_rate"
    )
    assert fpr.gap == 0.0 and fpr.ratio == 1.0 and not fpr.significant


def test_gap_metrics_names(slices):
    settings = SliceSettings.create(["sex"], thresholds=[0.5], min_slice_size=10)
    gaps = compute_gaps(slices, settings)
    m = gap_metrics(gaps)
    for metric in gaps_lib.GAP_METRICS:
        assert f"{metric}_gap_sex@0.5" in m and f"{metric}_ratio_sex@0.5" in m
        assert m[f"{metric}_gap_significant_sex@0.5"] in (0.0, 1.0)
        assert m[f"max_{metric}_gap"] == m[f"{metric}_gap_sex@0.5"]
    assert m["max_fairness_gap"] == max(g.gap for g in gaps)
    assert m["min_fairness_ratio"] == min(g.ratio for g in gaps)
    assert m["significant_gap_count"] == sum(g.significant for g in gaps)
    assert all(isinstance(v, float) for v in m.values())


def _gap(metric, value, significant=False):
    return Gap(
        metric, "sex", 0.5, value, 0.5, "a", "b", value, 0.0, "a", 0.0, 0.1, significant, [], {}
    )


def test_baseline_deltas_and_change_sentences():
    cand_gaps = [_gap("false_negative_rate", 0.09, True), _gap("positive_rate", 0.05)]
    base_gaps = [_gap("false_negative_rate", 0.04), _gap("positive_rate", 0.052)]
    cand = {"auc": 0.80, **gap_metrics(cand_gaps)}
    base = {"auc": 0.82, **gap_metrics(base_gaps)}
    out = baseline_metrics(cand, base, cand_gaps)
    assert out["baseline_auc"] == 0.82 and out["delta_auc"] == pytest.approx(-0.02)
    assert out["baseline_false_negative_rate_gap_sex@0.5"] == 0.04
    assert out["delta_false_negative_rate_gap_sex@0.5"] == pytest.approx(0.05)
    assert out["delta_max_fairness_gap"] == pytest.approx(0.09 - 0.052)
    assert "delta_example_count" not in out  # neither has it
    assert change_statements(cand_gaps, base_gaps) == [
        "the candidate widened the FNR gap for sex@0.5 from 0.04 to 0.09 (+0.05) (now significant)"
    ]


# ----------------------------------------------------------------------------- report


def test_report_is_self_contained(slices):
    settings = SliceSettings.create(["sex"], min_slice_size=10)
    gaps = compute_gaps(slices, settings)
    metrics = {"auc": 0.8, "example_count": 330.0, **gap_metrics(gaps)}
    cand = task.ModelEvaluation(slices, gaps, metrics, "/x/candidate")
    base = task.ModelEvaluation(slices, gaps, metrics, "/x/baseline")
    metrics.update(baseline_metrics(metrics, metrics, gaps))
    outcome = task.FairnessOutcome(
        settings,
        "risk",
        "1",
        cand,
        base,
        metrics,
        [],
        [[110, 40], [50, 130]],
        ([0, 1], [0, 1], [1, 0]),
    )
    outcome.excluded = {"sex=other": "8 examples, below min_slice_size 10"}
    page = render_evaluate_fairness(
        outcome, {"energy_kwh": 1e-6, "energy_method": "cpu_load_estimate"}
    )
    assert page.startswith("<!DOCTYPE html>")
    for heading in [
        "Verdict",
        "Fairness gaps",
        "Slices of sex",
        "Slices left out of gaps",
        "Baseline comparison",
        "Energy and carbon of this step",
    ]:
        assert f"<h2>{heading}</h2>" in page
    assert "8 examples, below min_slice_size 10" in page
    assert page.count("<svg") == 4  # one chart per rate
    assert "src=" not in page and "<script" not in page and "<link" not in page
    assert "https://" not in page
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')
    assert "an estimate, not a measurement" in page
