"""Fairness mitigation's plain logic: thresholds chosen, applied, judged; no TensorFlow."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared import group_thresholds
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.policy import parse_policy
from greenkfp.components.deployment import gate
from greenkfp.components.mitigation import gated, task, thresholds

FNR_BY_SEX = "max_fairness_gap:\n  false_negative_rate: {sex: 0.1}\nmitigation: %s\n"


def planted(n: int, seed: int, shift: float = 1.3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows whose female positives score lower: a false negative rate gap by sex of ~0.3."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    y = (rng.random(n) < 0.4).astype(int)
    x = rng.normal(y * 1.6, 1.0)
    logit = 1.5 * x - 1.2 - shift * ((sex == "female") & (y == 1))
    age = rng.integers(18, 80, n)
    return pd.DataFrame({"sex": sex, "age": age, "x": x, "risk": y}), y, 1 / (1 + np.exp(-logit))


def data(shift: float = 1.3) -> task.Rows:
    eval_df, y_eval, s_eval = planted(3000, 1, shift)
    val_df, y_val, s_val = planted(1500, 2, shift)
    return task.Rows(eval_df, y_eval, s_eval, val_df, y_val, s_val, {"age": [25, 40, 60]}, 20)


def fairness_figures(d: task.Rows) -> dict[str, float]:
    """The fairness step's figures of the planted rows (every rate by sex and age at 0.5)."""
    figures = {"auc": 0.8, "accuracy": 0.7, "energy_kwh": 1e-6}
    for feature in ("sex", "age"):
        groups = gated.row_groups(d.eval_df, feature, d.buckets)
        for metric in ("false_negative_rate", "false_positive_rate", "positive_rate"):
            m = gated.measure_gap(metric, feature, d.y_eval, d.scores_eval, groups, 0.5, 20)
            figures[f"{metric}_gap_{feature}@0.5"] = m.gap
    return figures


def test_mapped_scores_decide_as_the_group_threshold_and_stay_probabilities():
    rng = np.random.default_rng(0)
    scores = rng.random(2000)
    cuts = rng.choice([0.2, 0.35, 0.5, 0.8], 2000)
    for operating in (0.5, 0.3):
        mapped = group_thresholds.map_scores(scores, cuts, operating)
        assert ((mapped > operating) == (scores > cuts)).all()
        assert mapped.min() >= 0.0 and mapped.max() <= 1.0
        for cut in (0.2, 0.8):  # order within a group is kept
            same = cuts == cut
            order = np.argsort(scores[same])
            assert (np.diff(mapped[same][order]) >= 0).all()


def test_a_threshold_model_needs_its_sensitive_feature(tmp_path):
    spec = group_thresholds.GroupThresholds("sex", {"female": 0.3, "male": 0.6})
    group_thresholds.write(str(tmp_path), spec)
    assert group_thresholds.read(str(tmp_path)) == spec
    predict = group_thresholds.wrap(lambda df: np.full(len(df), 0.4), spec)
    got = predict(pd.DataFrame({"sex": ["female", "male", "other"], "x": [1, 2, 3]}))
    np.testing.assert_allclose(got[:2] > 0.5, [True, False])
    assert got[2] == pytest.approx(0.4)  # an unseen group keeps the operating threshold
    with pytest.raises(InputError, match="must hold the sensitive feature 'sex'"):
        predict(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        group_thresholds.GroupThresholds("sex", {"female": 1.0})


def test_buckets_key_a_numeric_feature_as_the_fairness_step_slices_it():
    spec = group_thresholds.GroupThresholds(
        "age", {"<25": 0.2, "[25, 40)": 0.7}, boundaries=(25.0, 40.0)
    )
    df = pd.DataFrame({"age": [18, 30, 50, None]})
    np.testing.assert_allclose(spec.row_thresholds(df), [0.2, 0.7, 0.5, 0.5])


def test_measured_gap_equals_pandas_with_its_interval():
    d = data()
    groups = gated.row_groups(d.eval_df, "sex", {})
    m = gated.measure_gap("false_negative_rate", "sex", d.y_eval, d.scores_eval, groups, 0.5, 20)
    df = d.eval_df.assign(pred=d.scores_eval > 0.5)
    fnr = df[df.risk == 1].groupby("sex")["pred"].apply(lambda p: 1 - p.mean())
    assert m.gap == pytest.approx(fnr.max() - fnr.min(), abs=1e-12)
    assert m.max_group == "female" and 0.25 < m.gap < 0.45
    assert m.low < m.gap < m.high and m.low > 0.15


def test_planted_gap_is_brought_within_the_policy_at_little_accuracy_cost():
    d = data()
    policy = parse_policy(FNR_BY_SEX % "thresholds")
    fairness = fairness_figures(d)
    gaps = gated.gated_gaps(policy, fairness)
    assert [(g.metric, g.feature, g.bound) for g in gaps] == [("false_negative_rate", "sex", 0.1)]
    outcome, _ = task.mitigate(policy, fairness, d, gaps)
    assert outcome.method == "thresholds", outcome.reason
    row = outcome.gaps[0]
    assert row["before"]["gap"] > 0.25 and row["after"]["gap"] <= 0.1
    assert row["after"]["low"] <= row["after"]["gap"] <= row["after"]["high"]
    quality = outcome.quality
    assert quality["before"]["accuracy"] - quality["after"]["accuracy"] <= 0.02
    assert outcome.thresholds["feature"] == "sex"
    assert outcome.thresholds["criterion"].startswith("equal opportunity")
    assert "validation rows carved from the training data" in outcome.thresholds["chosen_on"]
    # The gate reads the mitigated figures and passes the gap it refused before.
    assert outcome.figures["false_negative_rate_gap_sex@0.5"] == row["after"]["gap"]
    before = gate.evaluate(policy, fairness=fairness)
    after = gate.evaluate(policy, fairness=outcome.figures)
    assert not before.approved and after.approved
    assert outcome.figures["mitigation_applied"] == 1.0
    assert outcome.figures["accuracy_cost"] == pytest.approx(
        quality["before"]["accuracy"] - quality["after"]["accuracy"]
    )
    json.dumps(outcome.record(), allow_nan=False)


def test_thresholds_are_chosen_on_validation_rows_not_evaluation_rows():
    d = data()
    policy = parse_policy(FNR_BY_SEX % "thresholds")
    fairness = fairness_figures(d)
    gaps = gated.gated_gaps(policy, fairness)
    first, _ = task.mitigate(policy, fairness, d, gaps)
    eval_df, y_eval, s_eval = planted(3000, 9)
    moved = task.Rows(
        eval_df, y_eval, s_eval, d.validation_df, d.y_validation, d.scores_validation, d.buckets, 20
    )
    second, _ = task.mitigate(policy, fairness, moved, gaps)
    chosen = [o.attempts[0].thresholds["thresholds"] for o in (first, second)]
    assert chosen[0] == chosen[1]


def test_a_remedy_that_cannot_meet_the_policy_leaves_the_model_refused_with_the_reason():
    d = data()
    text = (
        "max_fairness_gap:\n  false_negative_rate: {sex: 0.0}\n"
        "  false_positive_rate: {sex: 0.0}\n  positive_rate: {sex: 0.0}\nmitigation: auto\n"
    )
    policy = parse_policy(text)
    fairness = fairness_figures(d)
    outcome, kept = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert kept is None and outcome.method == "none" and outcome.thresholds is None
    assert outcome.reason.startswith("no remedy brought every gated gap within the policy")
    assert "thresholds:" in outcome.reason and "reweigh:" in outcome.reason
    assert [a.outcome for a in outcome.attempts] == ["failed", "refused", "refused"]
    assert "fairlearn not in the lock" in outcome.attempts[2].reason
    # The gate judges the model as it was, and refuses it.
    result = gate.evaluate(policy, fairness=outcome.figures)
    assert not result.approved
    assert any("false_negative_rate" in r for r in result.reasons)
    assert outcome.figures["mitigation_applied"] == 0.0
    assert "energy_kwh" not in outcome.figures  # the step reports its own energy


def test_no_mitigation_asked_or_needed():
    d = data()
    fairness = fairness_figures(d)
    policy = parse_policy(FNR_BY_SEX % "none")
    outcome, _ = task.mitigate(policy, fairness, None, gated.gated_gaps(policy, fairness))
    assert outcome.method == "none" and "mitigation: none" in outcome.reason
    loose = parse_policy(FNR_BY_SEX.replace("0.1", "0.9") % "auto")
    outcome, _ = task.mitigate(loose, fairness, d, gated.gated_gaps(loose, fairness))
    assert outcome.method == "none" and "within the policy" in outcome.reason
    assert outcome.gaps[0]["before"] == outcome.gaps[0]["after"]


def test_explicit_refused_method_says_why():
    d = data()
    fairness = fairness_figures(d)
    policy = parse_policy(FNR_BY_SEX % "reweigh")
    outcome, _ = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert outcome.method == "none" and "not trained reweighed" in outcome.reason
    assert "mitigation: reweigh in the policy" in outcome.reason
    assert [(a.method, a.outcome) for a in outcome.attempts] == [("reweigh", "refused")]
    policy = parse_policy(FNR_BY_SEX % "expgrad")
    outcome, _ = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert outcome.method == "none" and "fairlearn not in the lock" in outcome.reason


def reweighed(shift_after: float) -> task.Rows:
    """Planted rows whose candidate (the reweighed model) scores with ``shift_after`` and
    whose unweighted reference scores with the planted shift of 1.3."""
    d = data(shift_after)
    d.reference_scores_eval = data(1.3).scores_eval
    d.reference_energy = {"energy_kwh": 2e-5}
    return d


def test_reweigh_is_judged_against_the_unweighted_reference():
    d = reweighed(0.0)
    policy = parse_policy(FNR_BY_SEX % "reweigh")
    fairness = fairness_figures(d)
    outcome, scores = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert outcome.method == "reweigh", outcome.reason
    row = outcome.gaps[0]
    assert row["before"]["gap"] > 0.25 and row["after"]["gap"] <= 0.1
    reference = data(1.3)
    groups = gated.row_groups(reference.eval_df, "sex", {})
    assert (
        row["before"]["gap"]
        == gated.measure_gap(
            "false_negative_rate", "sex", reference.y_eval, reference.scores_eval, groups, 0.5, 20
        ).gap
    )
    np.testing.assert_array_equal(scores, d.scores_eval)  # the candidate ships as it is
    assert outcome.figures["mitigation_energy_kwh"] == 2e-5
    assert outcome.record()["mitigation_energy"] == {"energy_kwh": 2e-5}
    assert gate.evaluate(policy, fairness=outcome.figures).approved
    assert outcome.quality["before"] == gated.accuracy_and_auc(d.y_eval, reference.scores_eval, 0.5)


def test_reweigh_that_leaves_a_gap_is_refused_with_before_and_after():
    d = reweighed(1.0)
    policy = parse_policy(FNR_BY_SEX % "reweigh")
    fairness = fairness_figures(d)
    outcome, scores = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert outcome.method == "none" and scores is None
    assert "reweighing did not bring" in outcome.reason and "left for the gate" in outcome.reason
    row = outcome.gaps[0]
    assert row["before"]["gap"] > row["after"]["gap"] > 0.1
    assert not gate.evaluate(policy, fairness=outcome.figures).approved


def test_auto_tries_thresholds_before_reweigh():
    policy = parse_policy(FNR_BY_SEX % "auto")
    d = reweighed(0.0)
    fairness = fairness_figures(d)
    outcome, _ = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    assert outcome.method == "none"  # the candidate meets the policy: nothing to mitigate
    d = data()
    outcome, _ = task.mitigate(policy, fairness_figures(d), d, gated.gated_gaps(policy, {}))
    assert outcome.method == "thresholds"
    strict = parse_policy(FNR_BY_SEX.replace("0.1", "0.0") % "auto")
    outcome, _ = task.mitigate(strict, fairness_figures(d), d, gated.gated_gaps(strict, {}))
    assert [(a.method, a.outcome) for a in outcome.attempts] == [
        ("thresholds", "failed"),
        ("reweigh", "refused"),
        ("expgrad", "refused"),
    ]


def test_criterion_follows_the_gated_rates():
    assert thresholds.criterion(["false_negative_rate"]).startswith("equal opportunity")
    assert thresholds.criterion(["false_positive_rate", "true_positive_rate"]).startswith(
        "equalized odds"
    )


def test_policy_mitigation_key():
    assert parse_policy("min_auc: 0.6").mitigation == "none"
    assert parse_policy("min_auc: 0.6\nmitigation: auto").to_dict()["mitigation"] == "auto"
    with pytest.raises(InputError, match="mitigation must be one of"):
        parse_policy("min_auc: 0.6\nmitigation: magic")


def test_gated_gaps_follow_every_form_of_the_bound():
    fairness = {
        "false_negative_rate_gap_sex@0.5": 0.2,
        "false_negative_rate_gap_age@0.5": 0.1,
        "false_positive_rate_gap_sex@0.5": 0.1,
        "false_negative_rate_gap_sex@0.25": 0.3,
    }
    every = gated.gated_gaps(parse_policy("max_fairness_gap: 0.1"), fairness)
    assert {(g.metric, g.feature) for g in every} == {
        ("false_negative_rate", "age"),
        ("false_negative_rate", "sex"),
        ("false_positive_rate", "sex"),
    }
    per_metric = gated.gated_gaps(
        parse_policy("max_fairness_gap: {false_negative_rate: 0.1}"), fairness
    )
    assert [g.key for g in per_metric] == [
        "false_negative_rate_gap_age@0.5",
        "false_negative_rate_gap_sex@0.5",
    ]
    assert math.isnan(
        gated.measure_gap(
            "false_negative_rate",
            "sex",
            np.array([1, 0]),
            np.array([0.9, 0.1]),
            np.array(["a", "b"]),
            0.5,
            1,
        ).gap
    )


def test_record_reaches_run_summary_and_report_section():
    from greenkfp.components._shared import mitigation_record
    from greenkfp.pipelines.cli.run import outcome_rows
    from greenkfp.pipelines.runners.local import RunSummary, StepResult, pipeline_outcome

    d = data()
    policy = parse_policy(FNR_BY_SEX % "auto")
    fairness = fairness_figures(d)
    outcome, _ = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    record = outcome.record()
    step = StepResult("mitigate-fairness", "succeeded", 1.0)
    step.outputs = {"mitigation": {"uri": "", "metadata": record}, "metrics": {"metadata": {}}}
    summary = pipeline_outcome([step], {})
    assert summary["mitigation"] == "thresholds"
    assert summary["mitigation_gaps"] == record["mitigation_gaps"]
    assert summary["mitigation_reason"] == outcome.reason
    assert {"mitigation", "mitigation_gaps", "mitigation_reason"} <= set(RunSummary.__annotations__)
    rows = outcome_rows(RunSummary("p", "succeeded", "/o", [step], "", 1.0, {}, "log", **summary))
    labels = [label for label, _ in rows]
    at = labels.index("Fairness mitigation")
    assert rows[at][1].startswith("thresholds (per-group thresholds by sex")
    gap = record["mitigation_gaps"][0]
    assert rows[at + 1] == (
        "",
        f"false_negative_rate gap by sex {gap['before']['gap']:.3f} -> {gap['after']['gap']:.3f}",
    )
    section = mitigation_record.render_section(record, 2.5e-6)
    before, after = record["mitigation_gaps"][0]["before"], record["mitigation_gaps"][0]["after"]
    assert f"{before['gap']:.3f} [{before['low']:.3f}, {before['high']:.3f}]" in section
    assert f"{after['gap']:.3f} [{after['low']:.3f}, {after['high']:.3f}]" in section
    assert "2.5e-06" in section and "needed at prediction time" in section


def test_sustainability_report_shows_the_mitigation_section():
    from greenkfp.components.sustainability import summary
    from greenkfp.components.sustainability.report import render_sustainability_report
    from greenkfp.components.sustainability.task import run_sustainability_report

    d = data()
    policy = parse_policy(FNR_BY_SEX % "auto")
    fairness = fairness_figures(d)
    outcome, _ = task.mitigate(policy, fairness, d, gated.gated_gaps(policy, fairness))
    figures = run_sustainability_report(
        step_metrics={"mitigation": {"energy_kwh": 3e-7, "emissions_kg_co2eq": 1e-7}},
        mitigation=outcome.record(),
    )
    page = render_sustainability_report(figures)
    assert "<h2>Fairness mitigation</h2>" in page and "3e-07" in page
    assert "mitigate_fairness" in page  # its energy is a step of the report
    markdown = summary.render_sustainability_summary(figures)
    assert "Fairness mitigation: **thresholds**" in markdown
    assert "false_negative_rate gap by sex (bound 0.1)" in markdown
    without = render_sustainability_report(run_sustainability_report(step_metrics={}))
    assert "Fairness mitigation" not in without
