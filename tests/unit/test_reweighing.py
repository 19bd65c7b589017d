"""Reweighing: the sample weights, the trainer's reweighed model and its reference, and
the mitigation step judging one against the other (issue 21)."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared import reweighing
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import load_metadata
from greenkfp.components._shared.policy import parse_policy

FNR_BY_SEX = "max_fairness_gap:\n  false_negative_rate: {sex: 0.1}\nmitigation: %s\n"


def test_weights_give_every_group_the_overall_positive_rate():
    rng = np.random.default_rng(3)
    groups = rng.choice(["female | a", "female | b", "male | a", "male | b"], 5000)
    base = {"female | a": 0.1, "female | b": 0.3, "male | a": 0.5, "male | b": 0.7}
    labels = (rng.random(5000) < np.vectorize(base.get)(groups)).astype(int)
    w = reweighing.weights(groups, labels)
    rates = reweighing.weighted_positive_rates(groups, labels, w)
    unweighted = reweighing.weighted_positive_rates(groups, labels, np.ones(5000))
    assert max(unweighted.values()) - min(unweighted.values()) > 0.5
    for rate in rates.values():
        assert rate == pytest.approx(labels.mean(), abs=1e-6)
    assert w.mean() == pytest.approx(1.0, abs=1e-6)
    # Each group keeps its share of the total weight: P(g) is unchanged.
    assert w[groups == "female | a"].sum() / w.sum() == pytest.approx(
        np.mean(groups == "female | a"), abs=1e-6
    )


def test_weights_are_p_g_times_p_y_over_p_gy():
    groups = np.array(["f", "f", "f", "f", "m", "m", "m", "m", "m", "m"])
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    w = reweighing.weights(groups, labels)
    # P(f)=0.4, P(y=1)=0.5, P(f,1)=0.1: 2.0; P(f,0)=0.3: 0.4*0.5/0.3.
    np.testing.assert_allclose(w[:2], [2.0, 0.4 * 0.5 / 0.3], rtol=1e-6)
    np.testing.assert_allclose(w[4], 0.6 * 0.5 / 0.4, rtol=1e-6)
    with pytest.raises(InputError, match="one per row"):
        reweighing.weights(groups, labels[:3])


def test_features_are_those_the_policy_names_crosses_split():
    text = (
        "max_fairness_gap:\n  false_negative_rate: {sex: 0.1}\n"
        "  positive_rate: {sex_x_race: 0.2}\nmitigation: reweigh\n"
    )
    assert reweighing.policy_features(parse_policy(text), ["sex", "race", "x"]) == ["sex", "race"]
    with pytest.raises(InputError, match="name the sensitive features"):
        reweighing.policy_features(parse_policy("max_fairness_gap: 0.1\n"), ["sex"])
    df = pd.DataFrame({"sex": ["f", "m"] * 20, "age": range(40)})
    assert list(reweighing.row_groups(df.head(2), ["sex"])) == ["f", "m"]
    with pytest.raises(InputError, match="bucket it"):
        reweighing.row_groups(df, ["sex", "age"])
    with pytest.raises(InputError, match="'race' is not a column"):
        reweighing.row_groups(df, ["race"])


def planted_rows(n: int, seed: int) -> pd.DataFrame:
    """Women are fewer positives (0.15 against 0.5): a model using sex misses more of them."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    y = (rng.random(n) < np.where(sex == "female", 0.15, 0.5)).astype(int)
    x = rng.normal(1.2 * y, 1.0)
    return pd.DataFrame({"sex": sex, "x": x, "risk": y})


@pytest.mark.slow
def test_reweighed_training_reduces_the_planted_gap_and_mitigation_reports_it(tmp_path):
    from greenkfp.components.mitigation import gated
    from greenkfp.components.mitigation.task import run_mitigate_fairness
    from greenkfp.components.training.task import run_train_model

    train, evaluation = tmp_path / "train.csv", tmp_path / "eval.csv"
    planted_rows(4000, 11).to_csv(train, index=False)
    eval_df = planted_rows(3000, 12)
    eval_df.to_csv(evaluation, index=False)
    model_dir = str(tmp_path / "model")
    outcome = run_train_model(
        train_path=str(train),
        eval_path=str(evaluation),
        model_dir=model_dir,
        label_column="risk",
        hparams={"epochs": 10, "seed": 5},
        policy_text=FNR_BY_SEX % "reweigh",
    )
    reference_dir = os.path.join(model_dir, reweighing.REFERENCE_DIRNAME)
    assert os.path.isdir(os.path.join(reference_dir, "saved_model"))
    meta = load_metadata(model_dir)
    assert meta["reweighing"]["features"] == ["sex"]
    assert meta[reweighing.REFERENCE_ENERGY_KEY]["energy_kwh"] > 0
    assert outcome.figures["reweighed"] == 1.0

    fairness_dir = tmp_path / "fairness"
    fairness_dir.mkdir()
    (fairness_dir / "fairness.json").write_text(
        json.dumps({"settings": {"feature_buckets": {}, "min_slice_size": 20}})
    )
    result = run_mitigate_fairness(
        model_path=model_dir,
        eval_path=str(evaluation),
        train_path=str(train),
        fairness_dir=str(fairness_dir),
        fairness_metrics={"false_negative_rate_gap_sex@0.5": 0.3, "auc": 0.8},
        output_model_dir=str(tmp_path / "mitigated"),
        label_column="risk",
        policy_text=FNR_BY_SEX % "reweigh",
        trained_model_path=model_dir,
    )
    row = result.gaps[0]
    before, after = row["before"]["gap"], row["after"]["gap"]
    print(f"reweigh FNR gap by sex: {before:.3f} -> {after:.3f}; quality {result.quality}")
    assert before > 0.2, before  # the unweighted reference misses women's positives
    assert after < before - 0.15, (before, after)
    assert row["after"]["low"] <= after <= row["after"]["high"]
    assert result.attempts[0].method == "reweigh"
    assert result.method == ("reweigh" if after <= 0.1 else "none")
    assert result.figures["mitigation_energy_kwh"] == pytest.approx(
        meta[reweighing.REFERENCE_ENERGY_KEY]["energy_kwh"]
    )
    assert "accuracy" in result.quality["before"] and "auc" in result.quality["after"]
    # Before is the reference, measured by the same code on the same rows.
    from greenkfp.components._shared.predictor import predict_scores

    groups = gated.row_groups(eval_df, "sex", {})
    ref = gated.measure_gap(
        "false_negative_rate",
        "sex",
        eval_df["risk"].to_numpy(),
        predict_scores(reference_dir, eval_df),
        groups,
        0.5,
        20,
    )
    assert ref.gap == pytest.approx(before, abs=1e-9)
    json.dumps(result.record(), allow_nan=False)


@pytest.mark.slow
def test_weighted_batches_carry_each_rows_weight():
    from greenkfp.components.training.trainer import batches

    inputs = {"x": np.arange(10, dtype=np.float32)}
    labels = np.arange(10) % 2
    weights = np.arange(10, dtype=np.float32) * 10
    seen = []
    for x, y, w in batches(inputs, labels, 4, shuffle_seed=1, weights=weights):
        seen.extend(zip(x["x"].numpy(), y.numpy(), w.numpy()))
    assert sorted(seen) == [(i, i % 2, 10 * i) for i in range(10)]
