"""Fairness evaluation through TFMA: checked against pandas on the same scores."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from greenkfp.components.fairness import task
from greenkfp.components.fairness.gaps import GAP_METRICS
from greenkfp.components.fairness.slicing import SliceSettings

pytestmark = pytest.mark.slow

LABEL = "risk"
AGE_BOUNDARIES = [25, 40, 60]
AGE_NAMES = ["<25", "[25, 40)", "[40, 60)", ">=60"]
THRESHOLDS = [0.5, 0.25]
MIN_SLICE = 20


def settings(thresholds=THRESHOLDS):
    return SliceSettings.create(
        ["sex", "age"], {"age": AGE_BOUNDARIES}, [["sex", "age"]], thresholds, MIN_SLICE
    )


# ----------------------------------------------------------------------------- by hand


def hand_groups(df: pd.DataFrame) -> dict:
    """Rows of every expected slice, computed with pandas alone."""
    age = pd.cut(df["age"], [-np.inf, *AGE_BOUNDARIES, np.inf], right=False, labels=AGE_NAMES)
    groups = {"overall": np.ones(len(df), bool)}
    for sex in sorted(df["sex"].unique()):
        groups[f"sex={sex}"] = (df["sex"] == sex).to_numpy()
    for name in AGE_NAMES:
        groups[f"age={name}"] = (age == name).to_numpy()
    for sex in sorted(df["sex"].unique()):
        for name in AGE_NAMES:
            mask = ((df["sex"] == sex) & (age == name)).to_numpy()
            if mask.any():
                groups[f"sex={sex}, age={name}"] = mask
    return groups


def hand_rates(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    pred = scores > threshold  # TFMA's rule
    pos, neg = labels == 1, labels == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "false_positive_rate": (pred & neg).sum() / neg.sum() if neg.any() else math.nan,
            "false_negative_rate": (~pred & pos).sum() / pos.sum() if pos.any() else math.nan,
            "positive_rate": pred.mean(),
            "true_positive_rate": (pred & pos).sum() / pos.sum() if pos.any() else math.nan,
        }


GROUP_PREFIX = {"sex": "sex=", "age": "age=", "sex_x_age": "sex="}


def slices_of(group_prefix: str, groups: dict, cross: bool) -> dict:
    is_cross = lambda name: "sex=" in name and "age=" in name  # noqa: E731
    return {n: m for n, m in groups.items() if n.startswith(group_prefix) and is_cross(n) == cross}


def check_against_pandas(evaluation, df, labels, scores, thresholds=THRESHOLDS):
    """Every slice's rates and every gap equal a pandas computation to 1e-6."""
    groups = hand_groups(df)
    assert [s.name for s in evaluation.slices] == list(groups)
    for s in evaluation.slices:
        mask = groups[s.name]
        assert s.example_count == mask.sum(), s.name
        for t in thresholds:
            expected = hand_rates(labels[mask], scores[mask], t)
            for metric, value in expected.items():
                got = s.rates[f"{t:g}"][metric].value
                if math.isnan(value):
                    assert math.isnan(got), (s.name, metric)
                else:
                    assert got == pytest.approx(value, abs=1e-6), (s.name, metric, t)
                    rate = s.rates[f"{t:g}"][metric]
                    assert rate.low <= got <= rate.high
    seen = 0
    for group in ("sex", "age", "sex_x_age"):
        members = slices_of(GROUP_PREFIX[group], groups, cross=group == "sex_x_age")
        for t in thresholds:
            for metric in GAP_METRICS:
                values = []
                for mask in members.values():
                    v = hand_rates(labels[mask], scores[mask], t)[metric]
                    if mask.sum() >= MIN_SLICE and not math.isnan(v):
                        values.append(v)
                key = f"{metric}_gap_{group}@{t:g}"
                assert evaluation.metrics[key] == pytest.approx(
                    max(values) - min(values), abs=1e-6
                ), key
                ratio = min(values) / max(values) if max(values) else 1.0
                assert evaluation.metrics[f"{metric}_ratio_{group}@{t:g}"] == pytest.approx(
                    ratio, abs=1e-6
                )
                seen += 1
    assert seen == 3 * len(thresholds) * 4
    gap_keys = [k for k in evaluation.metrics if "_gap_" in k and "significant" not in k]
    assert evaluation.metrics["max_fairness_gap"] == max(evaluation.metrics[k] for k in gap_keys)


# ----------------------------------------------------------------------------- score columns


def rule_scores(df: pd.DataFrame, tpr_of) -> np.ndarray:
    """Scores that give each (sex, age bucket, label) cell the same rates, by construction.

    Within a cell, rows are ranked (by a seeded shuffle); positives in the first
    ``tpr_of(sex)`` share score 0.8, the next 10% 0.4, the rest 0.1; negatives: 20% 0.7,
    20% 0.3, the rest 0.1. So the rule depends on the group only through ``tpr_of``.
    """
    age = pd.cut(df["age"], [-np.inf, *AGE_BOUNDARIES, np.inf], right=False, labels=False)
    order = np.random.default_rng(7).permutation(len(df))
    rank = pd.Series(order, index=df.index)
    scores = np.zeros(len(df))
    for _, cell in df.groupby([df["sex"], age, df[LABEL]]).groups.items():
        idx = rank.loc[cell].sort_values().index
        frac = (np.arange(len(idx)) + 0.5) / len(idx)
        sex, label = df.loc[idx[0], "sex"], df.loc[idx[0], LABEL]
        if label == 1:
            top = tpr_of(sex)
            values = np.where(frac < top, 0.8, np.where(frac < top + 0.1, 0.4, 0.1))
        else:
            values = np.where(frac < 0.2, 0.7, np.where(frac < 0.4, 0.3, 0.1))
        scores[df.index.get_indexer(idx)] = values
    return scores


@pytest.fixture(scope="module")
def scored(german_credit, tmp_path_factory):
    """Planted bias (female positives lose: TPR 0.5 vs 0.8) against a fair baseline."""
    df = german_credit
    fair = rule_scores(df, lambda sex: 0.8)
    biased = rule_scores(df, lambda sex: 0.5 if sex == "female" else 0.8)
    out = tmp_path_factory.mktemp("scored")
    outcome = task.evaluate_scores(df, biased, LABEL, 1, settings(), str(out), baseline_scores=fair)
    return outcome, df, fair, biased, out


def test_slices_and_gaps_equal_pandas_on_score_columns(scored):
    outcome, df, fair, biased, _ = scored
    labels = df[LABEL].to_numpy()
    check_against_pandas(outcome.candidate, df, labels, biased)
    check_against_pandas(outcome.baseline, df, labels, fair)


def test_planted_bias_is_detected(scored):
    outcome, *_ = scored
    m = outcome.figures
    gaps = {g.gap_key: g for g in outcome.candidate.gaps}
    fnr = gaps["false_negative_rate_gap_sex@0.5"]
    assert fnr.gap > 0.25 and fnr.significant and fnr.ci_low > 0.15
    assert fnr.worst_slice == "sex=female" and fnr.max_slice == "sex=female"
    assert gaps["true_positive_rate_gap_sex@0.5"].worst_slice == "sex=female"
    assert m["false_negative_rate_gap_significant_sex@0.5"] == 1.0
    assert m["true_positive_rate_gap_significant_sex@0.5"] == 1.0
    assert m["false_negative_rate_ratio_sex@0.5"] < 0.7
    assert m["significant_gap_count"] >= 2 and m["max_significant_fairness_gap"] > 0.25
    assert "false_negative_rate_gap_sex@0.5" in outcome.metadata["significant_gaps"]


def test_fair_scores_are_not_flagged(scored):
    outcome, *_ = scored
    fair = outcome.baseline
    # Equal odds by construction: error-rate gaps come from rounding within small cells only.
    for g in fair.gaps:
        if g.metric != "positive_rate":
            assert g.gap < 0.1, g.gap_key
        assert not g.significant, (g.gap_key, g.gap, g.ci_low)
    assert fair.metrics["significant_gap_count"] == 0.0
    assert fair.metrics["max_significant_fairness_gap"] == 0.0
    assert fair.metrics["false_negative_rate_gap_sex@0.5"] < 0.01
    # The same rule with the planted bias is flagged (see above): the verdict is not blind.
    assert outcome.figures["significant_gap_count"] > 0


def test_baseline_deltas(scored):
    outcome, *_ = scored
    m = outcome.figures
    for key in [
        "auc",
        "accuracy",
        "precision",
        "recall",
        "false_negative_rate_gap_sex@0.5",
        "positive_rate_ratio_age@0.25",
        "max_fairness_gap",
    ]:
        assert m[f"delta_{key}"] == pytest.approx(m[key] - m[f"baseline_{key}"], abs=1e-12), key
    assert m["delta_example_count"] == 0.0
    assert m["delta_false_negative_rate_gap_sex@0.5"] > 0.25
    sentence = next(c for c in outcome.changes if "FNR gap for sex@0.5" in c)
    assert sentence.startswith("the candidate widened the FNR gap for sex@0.5 from 0.0")
    assert "(now significant)" in sentence


def test_tiny_slice_is_reported_and_excluded(scored):
    outcome, df, *_ = scored
    tiny = "sex=female, age=>=60"
    n = int(((df.sex == "female") & (df.age >= 60)).sum())
    assert 0 < n < MIN_SLICE
    assert outcome.excluded[tiny] == f"{n} examples, below min_slice_size {MIN_SLICE}"
    assert tiny in [s.name for s in outcome.candidate.slices]
    for g in outcome.candidate.gaps:
        if g.group == "sex_x_age":
            assert tiny not in g.slices and tiny in g.excluded


def test_overall_quality_matches_pandas(scored):
    from greenkfp.components._shared.binary_metrics import roc_auc

    outcome, df, _, biased, _ = scored
    labels = df[LABEL].to_numpy()
    pred = biased > 0.5
    m = outcome.figures
    assert m["example_count"] == len(df)
    assert m["accuracy"] == pytest.approx((pred == (labels == 1)).mean(), abs=1e-6)
    assert m["precision"] == pytest.approx((pred & (labels == 1)).sum() / pred.sum(), abs=1e-6)
    assert m["recall"] == pytest.approx((pred & (labels == 1)).sum() / labels.sum(), abs=1e-6)
    assert m["auc"] == pytest.approx(roc_auc(labels, biased), abs=2e-3)  # TFMA bins scores
    (tn, fp), (fn, tp) = outcome.confusion
    assert (tp, fp) == ((pred & (labels == 1)).sum(), (pred & (labels == 0)).sum())
    assert tn + fp + fn + tp == len(df)


def test_tfma_output_folders(scored):
    _, _, _, _, out = scored
    import tensorflow_model_analysis as tfma

    for name in ("candidate", "baseline"):
        assert (out / name / "eval_config.json").exists()
        result = tfma.load_eval_result(str(out / name))
        assert len(result.slicing_metrics) == 1 + 2 + 4 + 8


# ----------------------------------------------------------------------------- a trained model


@pytest.fixture(scope="module")
def model_run(german_credit, tmp_path_factory):
    """One small model, trained once; evaluated through its artifact folder."""
    from greenkfp.components.training import trainer
    from greenkfp.components.training.export import save_model

    eval_df = german_credit.sample(frac=0.2, random_state=42)
    train_df = german_credit.drop(eval_df.index).reset_index(drop=True)
    eval_df = eval_df.reset_index(drop=True)
    hparams = {"epochs": 3, "hidden_units": [8], "seed": 3, "early_stopping_patience": 0}
    result = trainer.train(
        train_df, eval_df, LABEL, 1, hparams, on_epoch_end=lambda epoch, logs: None
    )
    root = tmp_path_factory.mktemp("model_run")
    model_dir = root / "model"
    save_model(result, str(model_dir))
    eval_path = root / "eval.csv"
    eval_df.to_csv(eval_path, index=False)
    out = root / "out"
    outcome = task.run_evaluate_fairness(
        model_path=str(model_dir),
        eval_path=str(eval_path),
        output_dir=str(out),
        label_column=LABEL,
        sensitive_features=["sex", "age"],
        positive_label="1",
        feature_buckets={"age": AGE_BOUNDARIES},
        feature_crosses=[["sex", "age"]],
        thresholds=[0.5],
        min_slice_size=MIN_SLICE,
        beam_pipeline_args=["--runner=DirectRunner", "--direct_num_workers=1"],
    )
    return outcome, eval_df, model_dir, out


def test_model_predictions_flow_through_the_shared_predict_function(model_run):
    from greenkfp.components._shared.predictor import load_predictor

    outcome, eval_df, model_dir, _ = model_run
    scores = load_predictor(str(model_dir))(eval_df).astype(np.float64)
    labels = eval_df[LABEL].to_numpy()
    check_against_pandas(outcome.candidate, eval_df, labels, scores, thresholds=[0.5])
    (tn, fp), (fn, tp) = outcome.confusion
    pred = scores > 0.5
    assert [tn, fp, fn, tp] == [
        int((~pred & (labels == 0)).sum()),
        int((pred & (labels == 0)).sum()),
        int((~pred & (labels == 1)).sum()),
        int((pred & (labels == 1)).sum()),
    ]
    assert outcome.baseline is None and not any(k.startswith("delta_") for k in outcome.figures)


def test_fairness_json_holds_every_slice(model_run):
    outcome, eval_df, _, out = model_run
    data = task.read_results(str(out))
    assert data == json.loads((out / "fairness.json").read_text())
    assert data["settings"]["feature_buckets"] == {"age": [25.0, 40.0, 60.0]}
    names = [s["name"] for s in data["candidate"]["slices"]]
    assert names == [s.name for s in outcome.candidate.slices]
    assert data["metrics"] == outcome.figures and data["baseline"] is None
    female = next(s for s in data["candidate"]["slices"] if s["name"] == "sex=female")
    assert female["example_count"] == int((eval_df.sex == "female").sum())
    assert set(female["rates"]["0.5"]) == set(GAP_METRICS)
    assert {"value", "low", "high", "numerator", "denominator"} <= set(
        female["rates"]["0.5"]["false_positive_rate"]
    )
    assert (out / "candidate" / "eval_config.json").exists()
    assert not (out / "baseline").exists()
    old = "age=>=60"
    if int((eval_df.age >= 60).sum()) < MIN_SLICE:
        assert old in data["excluded"]
