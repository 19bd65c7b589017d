import math
import re

import numpy as np
import pytest

from greenkfp.components._shared import binary_metrics as ev
from greenkfp.components._shared import html
from greenkfp.components._shared.binary_metrics import auc_from_roc
from greenkfp.components._shared.errors import InputError
from greenkfp.components.training.report import training_report

LABELS = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0])
SCORES = np.array([0.1, 0.6, 0.7, 0.4, 0.5, 0.5, 0.2, 0.9, 0.3, 0.49])


def rank_auc(labels, scores):
    """Mann-Whitney AUC: P(score_pos > score_neg) + 0.5 P(tie), by brute force."""
    pos = [s for y, s in zip(labels, scores) if y == 1]
    neg = [s for y, s in zip(labels, scores) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def tied_data(n=300, seed=7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 1)  # few distinct scores
    return y, s


# confusion matrix


def test_confusion_matrix_matches_hand_count():
    # predicted positive (>= 0.5): 0.6(y0) 0.7(y1) 0.5(y0) 0.5(y1) 0.9(y1)
    # TN: 0.1, 0.2, 0.49 -> 3; FP: 0.6, 0.5 -> 2; FN: 0.4, 0.3 -> 2; TP: 0.7, 0.5, 0.9 -> 3
    assert ev.confusion_matrix(LABELS, SCORES) == [[3, 2], [2, 3]]
    assert ev.CONFUSION_CATEGORIES == ["negative", "positive"]
    cm = ev.confusion_matrix(LABELS, SCORES, threshold=0.45)  # now 0.49 is a FP
    assert cm == [[2, 3], [2, 3]]
    assert all(type(v) is int for row in cm for v in row)


def test_confusion_matrix_accepts_bool_labels():
    assert ev.confusion_matrix(LABELS.astype(bool), SCORES) == [[3, 2], [2, 3]]


@pytest.mark.parametrize(
    "labels, scores, threshold, match",
    [
        ([0, 1, 1], [0.1, 0.2], 0.5, "differ in length"),
        ([], [], 0.5, "empty"),
        ([0, 2, 1], [0.1, 0.2, 0.3], 0.5, "0 or 1"),
        ([0, -1], [0.1, 0.2], 0.5, "0 or 1"),
        (["a", "b"], [0.1, 0.2], 0.5, "0 or 1"),
        ([0, 1], [0.1, 0.2], 0.0, "threshold"),
        ([0, 1], [0.1, 0.2], 1.0, "threshold"),
        ([0, 1], [0.1, 0.2], 1.5, "threshold"),
        ([0, 1], [0.1, float("nan")], 0.5, "finite"),
    ],
)
def test_confusion_matrix_errors(labels, scores, threshold, match):
    with pytest.raises(InputError, match=match):
        ev.confusion_matrix(np.array(labels), np.array(scores), threshold)
    assert issubclass(InputError, ValueError)


# ROC


def test_roc_curve_exact_small_case():
    fpr, tpr, thr = ev.roc_curve(LABELS, SCORES)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert thr[0] == pytest.approx(0.9 + 1e-6) and math.isfinite(thr[0])
    assert thr[-1] == 0.1
    # nine distinct scores (0.5 is tied) -> nine steps plus the start
    assert len(fpr) == len(tpr) == len(thr) == 10
    i = thr.index(0.5)  # the tie moves both rates in one step
    assert (fpr[i] - fpr[i - 1], tpr[i] - tpr[i - 1]) == pytest.approx((0.2, 0.2))
    assert auc_from_roc(fpr, tpr) == pytest.approx(rank_auc(LABELS, SCORES), abs=1e-12)


def test_roc_curve_monotone_and_auc_equals_rank_auc_with_ties():
    y, s = tied_data()
    assert len(np.unique(s)) < 15  # many ties
    fpr, tpr, thr = ev.roc_curve(y, s, max_points=1000)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thr) < 0)
    assert all(isinstance(v, float) for v in fpr + tpr + thr)
    assert auc_from_roc(fpr, tpr) == pytest.approx(rank_auc(y, s), abs=1e-9)


def test_roc_curve_continuous_scores_auc():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.random(200)
    fpr, tpr, _ = ev.roc_curve(y, s, max_points=500)
    assert len(fpr) == 201
    assert auc_from_roc(fpr, tpr) == pytest.approx(rank_auc(y, s), abs=1e-9)


def test_roc_curve_downsampling_keeps_ends():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    s = rng.random(500)
    full = ev.roc_curve(y, s, max_points=10_000)
    fpr, tpr, thr = ev.roc_curve(y, s, max_points=25)
    assert 2 <= len(fpr) <= 25 and len(fpr) == len(tpr) == len(thr)
    assert (fpr[0], tpr[0], thr[0]) == (full[0][0], full[1][0], full[2][0])
    assert (fpr[-1], tpr[-1], thr[-1]) == (full[0][-1], full[1][-1], full[2][-1])
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(thr) < 0)
    two = ev.roc_curve(y, s, max_points=2)
    assert two[0] == [0.0, 1.0] and two[1] == [0.0, 1.0]
    # the thinned curve still approximates the area
    assert auc_from_roc(fpr, tpr) == pytest.approx(rank_auc(y, s), abs=0.02)


def test_roc_curve_errors():
    with pytest.raises(InputError, match="both classes"):
        ev.roc_curve(np.zeros(5, dtype=int), np.linspace(0, 1, 5))
    with pytest.raises(InputError, match="both classes"):
        ev.roc_curve(np.ones(5, dtype=int), np.linspace(0, 1, 5))
    with pytest.raises(InputError, match="differ in length"):
        ev.roc_curve(LABELS, SCORES[:-1])
    with pytest.raises(InputError, match="0 or 1"):
        ev.roc_curve(np.array([0, 1, 3]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(InputError, match="max_points"):
        ev.roc_curve(LABELS, SCORES, max_points=1)
    with pytest.raises(InputError, match="differ in length"):
        auc_from_roc([0.0, 1.0], [0.0])
    with pytest.raises(InputError, match="at least 2"):
        auc_from_roc([0.0], [0.0])


def test_perfect_and_inverted_classifiers():
    y = np.array([0, 0, 1, 1])
    fpr, tpr, _ = ev.roc_curve(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert auc_from_roc(fpr, tpr) == 1.0
    fpr, tpr, _ = ev.roc_curve(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert auc_from_roc(fpr, tpr) == 0.0


# summary


def test_classification_summary_by_hand():
    got = ev.classification_summary(LABELS, SCORES)
    # TN 3, FP 2, FN 2, TP 3
    assert got == pytest.approx(
        {
            "accuracy": 6 / 10,
            "precision": 3 / 5,
            "recall": 3 / 5,
            "f1": 0.6,
            "positive_rate": 5 / 10,
        }
    )
    assert all(type(v) is float for v in got.values())
    got = ev.classification_summary(np.array([0, 1, 1, 1]), np.array([0.2, 0.9, 0.8, 0.1]))
    # TN 1, FP 0, FN 1, TP 2
    assert got == pytest.approx(
        {"accuracy": 0.75, "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "positive_rate": 0.5}
    )


def test_classification_summary_no_predicted_positive():
    got = ev.classification_summary(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]))
    assert got["precision"] == 0.0 and got["recall"] == 0.0 and got["f1"] == 0.0
    assert got["positive_rate"] == 0.0 and got["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="threshold"):
        ev.classification_summary(LABELS, SCORES, threshold=0)


# line chart


def test_line_chart_edge_cases():
    assert "<svg" not in html.line_chart({})
    assert "<svg" not in html.line_chart({"loss": []})
    assert "<svg" not in html.line_chart({"loss": [float("nan")]})
    one = html.line_chart({"loss": [0.5]})
    assert one.startswith("<svg") and "<circle" in one and "nan" not in one.lower()
    gap = html.line_chart({"loss": [1.0, float("nan"), 0.5, 0.4], "val_loss": [1.1, 0.9]})
    assert gap.count("<path") == 2 and "nan" not in gap.lower()
    assert gap.count(" M") + gap.count('"M') == 3  # the NaN splits the first line in two
    flat = html.line_chart({"acc": [0.7, 0.7, 0.7]}, title="a<b")
    assert "a&lt;b" in flat and "inf" not in flat


# report


def sample_report():
    y, s = tied_data()
    roc = ev.roc_curve(y, s)
    auc = auc_from_roc(roc[0], roc[1])
    history = {
        "loss": [0.69, 0.6, 0.55, 0.52],
        "auc": [0.6, 0.7, 0.74, 0.75],
        "val_loss": [0.68, 0.62, 0.58, 0.57],
        "val_auc": [0.61, 0.69, 0.72, 0.73],
    }
    energy = {
        "duration_s": 12.5,
        "energy_kwh": 0.000123,
        "cpu_energy_kwh": 0.0001,
        "gpu_energy_kwh": 0.0,
        "ram_energy_kwh": 0.000023,
        "emissions_kg_co2eq": 4.7e-05,
        "carbon_intensity_g_per_kwh": 381.2,
        "energy_method": "cpu_load_estimate",
        "country_iso_code": "DEU",
        "region": "",
    }
    facts = {"param_count": 7489, "keras_model_bytes": 123456, "model_source": "default"}
    page = training_report(
        history,
        {"auc": auc, "accuracy": 0.7425, "loss": 0.5123},
        energy,
        ev.confusion_matrix(y, s),
        roc,
        facts,
    )
    return page, auc


def test_training_report_contents():
    page, auc = sample_report()
    assert page.startswith("<!DOCTYPE html>")
    for heading in (
        "Training curves",
        "Confusion matrix (eval, threshold 0.5)",
        "ROC curve (eval)",
        "Energy and carbon",
        "Model",
    ):
        assert f"<h2>{html.esc(heading)}</h2>" in page
    assert html.fmt(auc) in page and "0.7425" in page and "0.5123" in page
    assert "7,489" in page and "123,456" in page
    assert "0.000123" in page and "381.2" in page and "DEU" in page
    assert "val_loss" in page and "val_auc" in page
    assert "estimate" in page and "cpu_load_estimate" in page
    assert page.count("<svg") >= 4
    assert not re.search(r"<script|<link|<iframe|src=\"http", page, re.IGNORECASE)


def test_training_report_measured_energy_and_missing_values():
    y, s = tied_data()
    page = training_report(
        {"loss": [0.7]},
        {},
        {"energy_kwh": 0.5, "energy_method": "rapl+nvml"},
        ev.confusion_matrix(y, s),
        ev.roc_curve(y, s),
        {},
    )
    assert "measured" in page and "<b>estimate</b>" not in page
    assert "rapl+nvml" in page
    assert "nan" not in re.sub(r"<[^>]+>", "", page).lower()
