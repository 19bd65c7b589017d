"""The HTML reports render in headless Chromium with no network, and the screenshot is not blank.

The reports are built with the project's own logic from realistic figures (no TensorFlow):
the sustainability report of a whole run (its blessing from the real gate on a real policy)
and a training report. ``render_offline`` (tests/browser.py) records every request the page
starts and everything that reaches its blackhole proxy; a negative control proves a page
with an external script and image is caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from browser import (
    CHROMIUM,
    INSTALL_HINT,
    BrowserError,
    chromium_available,
    png_size,
    render_offline,
)
from helpers import energy_figures
from PIL import Image

from greenkfp.components._shared import binary_metrics as ev
from greenkfp.components._shared import html
from greenkfp.components._shared.binary_metrics import auc_from_roc
from greenkfp.components.deployment import gate
from greenkfp.components.deployment.policy import parse_policy
from greenkfp.components.sustainability import report
from greenkfp.components.sustainability.task import run_sustainability_report
from greenkfp.components.training.report import training_report

pytestmark = pytest.mark.slow

WIDTH = 1280
INTENSITY = 369.5  # g CO2eq/kWh, USA grid average as codecarbon gives it
GRID = {"energy_method": "cpu_load_estimate", "country_iso_code": "USA", "region": ""}

#: Seconds per step of a local run on 2 cores (the README's demo, plus the later steps).
STEP_SECONDS = {
    "import": 2.9,
    "train_statistics": 14.2,
    "eval_statistics": 12.8,
    "schema": 3.1,
    "validation": 4.6,
    "training": 15.5,
    "compression": 48.3,
    "fairness": 21.7,
    "gate": 0.8,
    "deployment": 6.4,
}

#: compress_model on the default model (benchmarks/RESULTS.md: prune0.5+int8).
COMPRESSION = {
    "base_bytes": 21480.0,
    "compressed_bytes": 13152.0,
    "base_gzip_bytes": 17650.0,
    "compressed_gzip_bytes": 6760.0,
    "base_accuracy": 0.745,
    "compressed_accuracy": 0.74,
    "base_auc": 0.781,
    "compressed_auc": 0.767,
    "base_latency_p50_ms": 0.0137,
    "compressed_latency_p50_ms": 0.0130,
    "base_latency_p95_ms": 0.0214,
    "compressed_latency_p95_ms": 0.0191,
    "base_inference_energy_kwh_per_1k": 3.10e-7,
    "compressed_inference_energy_kwh_per_1k": 3.07e-7,
    "size_ratio": 1.633,
    "gzip_size_ratio": 2.611,
    "accuracy_drop": 0.005,
    "auc_drop": 0.014,
    "latency_speedup_p50": 1.053,
    "inference_energy_ratio": 1.009,
    "sparsity": 0.5,
}

#: Gaps per (metric, feature) at threshold 0.5: (candidate, baseline, ratio, significant).
GAPS = {
    ("false_positive_rate", "sex"): (0.083, 0.071, 0.62, 0.0),
    ("false_negative_rate", "sex"): (0.061, 0.058, 0.86, 0.0),
    ("positive_rate", "sex"): (0.094, 0.089, 0.78, 0.0),
    ("true_positive_rate", "sex"): (0.061, 0.058, 0.93, 0.0),
    ("false_positive_rate", "age"): (0.214, 0.188, 0.41, 1.0),
    ("false_negative_rate", "age"): (0.173, 0.160, 0.72, 0.0),
    ("positive_rate", "age"): (0.226, 0.203, 0.55, 1.0),
    ("true_positive_rate", "age"): (0.173, 0.160, 0.79, 0.0),
    ("false_positive_rate", "sex_x_age"): (0.238, 0.221, 0.37, 0.0),
    ("positive_rate", "sex_x_age"): (0.247, 0.236, 0.48, 0.0),
}

POLICY = {
    "min_auc": 0.7,
    "max_accuracy_drop_vs_base": 0.02,
    "max_fairness_gap": {"false_positive_rate": {"sex": 0.1}, "positive_rate": 0.25},
    "max_training_emissions_kg": 0.001,
    "max_model_bytes": 200000,
    "max_p95_latency_ms": 5.0,
    "max_inference_energy_kwh_per_1k": 1e-4,
    "min_improvement_vs_live": -0.01,
}


def energy(seconds: float, watts: float = 17.0) -> dict[str, float]:
    return energy_figures(seconds * watts / 3.6e6, INTENSITY, seconds, cpu_share=0.78)


def fairness_metrics() -> dict[str, float]:
    out = {
        "auc": 0.767,
        "accuracy": 0.74,
        "precision": 0.571,
        "recall": 0.467,
        "example_count": 200.0,
        "baseline_auc": 0.781,
        "baseline_accuracy": 0.745,
    }
    for (metric, feature), (gap, baseline, ratio, significant) in GAPS.items():
        key = f"{metric}_gap_{feature}@0.5"
        out[key] = gap
        out[f"baseline_{key}"] = baseline
        out[f"delta_{key}"] = round(gap - baseline, 6)
        out[f"{metric}_ratio_{feature}@0.5"] = ratio
        out[f"{metric}_gap_significant_{feature}@0.5"] = significant
    out["max_fairness_gap"] = max(g[0] for g in GAPS.values())
    return out


def _ranked(drops: dict[str, float]) -> list[dict[str, float | str]]:
    return [
        {"feature": f, "auc_drop": d, "std": abs(d) * 0.2 + 0.002}
        for f, d in sorted(drops.items(), key=lambda x: -x[1])
    ]


FEATURE_DROPS = {
    "checking_status": 0.091,
    "duration": 0.043,
    "credit_history": 0.031,
    "credit_amount_with_a_long_column_name": 0.018,
    "savings_status": 0.012,
    "age": 0.008,
    "purpose": 0.005,
    "employment": 0.002,
    "housing": -0.001,
    "job": -0.003,
    "own_telephone": 0.0,
}
ATTRIBUTIONS = {
    "method": "permutation importance (ROC AUC drop, 3 seeded shuffles)",
    "baseline_auc": 0.781,
    "rows": 300,
    "repeats": 3,
    "global": _ranked(FEATURE_DROPS),
    "slices": {
        "sex": {
            value: _ranked({f: d * scale for f, d in FEATURE_DROPS.items()})
            for value, scale in (("female", 1.3), ("male", 0.8))
        }
    },
}


def sustainability_page(path: Path) -> Path:
    """Writes the report of a whole, approved and deployed run; returns the HTML path."""
    inputs = {name: energy(seconds) for name, seconds in STEP_SECONDS.items()}
    inputs["training"].update(auc=0.781, accuracy=0.745, loss=0.512, model_bytes=61234.0)
    inputs["compression"].update(COMPRESSION)
    inputs["fairness"].update(fairness_metrics())
    result = gate.evaluate(
        parse_policy(json.dumps(POLICY)),
        training=inputs["training"],
        compression=inputs["compression"],
        fairness=inputs["fairness"],
        live=gate.LiveModel(2, "/srv/greenkfp/registry/german-credit/2", {"auc": 0.772}),
        champion_check=True,
    )
    assert result.approved, result.reasons
    blessing = {**result.to_dict(), **GRID}
    failed = sum(c.verdict == "fail" for c in result.checks)
    inputs["gate"].update(
        approved=1.0, checks_passed=float(len(result.checks) - failed), checks_failed=float(failed)
    )
    deployment = {
        "deployed": True,
        "version": 3,
        "pushed_uri": "/srv/greenkfp/registry/german-credit/3",
        "live": True,
        "reasons": [],
        **GRID,
    }
    inputs["deployment"].update(deployed=1.0, version=3.0, live=1.0)
    figures = run_sustainability_report(
        step_metrics=inputs,
        blessing=blessing,
        deployment=deployment,
        embodied_g_co2eq_per_1k=0.012,
        attributions=ATTRIBUTIONS,
    )
    own = {**energy(0.9), **GRID}
    # Where kfp.local puts the component's HTML artifact: a file named "report".
    page = path / "sustainability-report" / "report"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(report.render_sustainability_report(figures, own), encoding="utf-8")
    return page


def training_page(path: Path) -> Path:
    rng = np.random.default_rng(42)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(rng.normal(0.38 + 0.22 * labels, 0.2), 0.0, 1.0)
    confusion, roc = ev.confusion_matrix(labels, scores), ev.roc_curve(labels, scores)
    accuracy = (confusion[0][0] + confusion[1][1]) / len(labels)
    epochs = 20
    decay = np.exp(-np.arange(epochs) / 6)
    history = {
        "loss": list(0.50 + 0.2 * decay),
        "val_loss": list(0.53 + 0.17 * decay),
        "auc": list(0.83 - 0.25 * decay),
        "val_auc": list(0.78 - 0.2 * decay),
    }
    page = training_report(
        history,
        {"auc": auc_from_roc(roc[0], roc[1]), "accuracy": accuracy, "loss": 0.512},
        {**energy(15.5), **GRID},
        confusion,
        roc,
        {"param_count": 4426, "keras_model_bytes": 61234, "hidden_units": [64, 32]},
    )
    out = path / "training-report.html"
    out.write_text(page, encoding="utf-8")
    return out


def require_chromium() -> None:
    """Fails (not skips): `make test` installs Chromium before it runs the tests."""
    if not chromium_available():
        pytest.fail(f"headless Chromium is missing ({CHROMIUM}): {INSTALL_HINT}", pytrace=False)


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def check_offline(result) -> None:
    assert result.problems() == [], "\n".join(result.problems())
    assert result.network_requests == [] and result.proxy_requests == []
    assert result.failed_requests == [] and result.console_errors == []
    # The recorder works: it saw the page's own document, and nothing else.
    assert [(r.url, r.resource_type) for r in result.requests] == [(result.url, "Document")]


def check_screenshot(result, min_height: int) -> np.ndarray:
    path = Path(result.png_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_size(path) == (result.png_width, result.png_height)
    assert result.png_width == WIDTH and not result.overflows_x, result.content_width
    assert min_height <= result.png_height == round(result.content_height) < 16000
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (result.png_height, WIDTH, 3)
    not_white = (pixels < 245).any(axis=2).mean()
    dark_text = (pixels.max(axis=2) < 90).mean()
    packed = pixels.astype(np.int32)
    colours = len(np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2]))
    assert 0.02 < not_white < 0.6, not_white
    assert dark_text > 0.003, dark_text
    assert colours > 50, colours
    return pixels


def test_sustainability_report_renders_offline(tmp_path):
    require_chromium()
    page = sustainability_page(tmp_path)
    text = page.read_text()
    assert "APPROVED" in text and "german-credit/3" in text
    # global + two slices, 10 features each; a bar at 0 drawn with its spread too
    assert text.count('class="err"') == 30
    result = render_offline(page, tmp_path / "sustainability.png", width=WIDTH)
    check_offline(result)
    pixels = check_screenshot(result, min_height=2000)
    # The two energy/emissions charts and the fairness chart are drawn in the bar colour.
    bars = (pixels == rgb(html.BAR_COLOR)).all(axis=2).sum()
    assert bars > 3000, bars
    assert result.elapsed_s < 30


def test_training_report_renders_offline(tmp_path):
    require_chromium()
    page = training_page(tmp_path)
    result = render_offline(page, tmp_path / "training.png", width=WIDTH)
    check_offline(result)
    check_screenshot(result, min_height=900)


def test_external_resources_are_caught(tmp_path):
    require_chromium()
    page = tmp_path / "leaky.html"
    page.write_text(
        "<!DOCTYPE html><html><head>"
        '<script src="https://cdn.example.com/lib.js"></script></head><body><h1>Leaky</h1>'
        '<img src="http://images.example.org/logo.png" width="40" height="40">'
        '<img src="missing.png"></body></html>',
        encoding="utf-8",
    )
    result = render_offline(page, tmp_path / "leaky.png", width=WIDTH)
    urls = {r.url for r in result.network_requests}
    assert urls == {"https://cdn.example.com/lib.js", "http://images.example.org/logo.png"}
    # Both reached the blackhole proxy, and nothing got through.
    assert any("cdn.example.com:443" in line for line in result.proxy_requests)
    assert any("images.example.org/logo.png" in line for line in result.proxy_requests)
    assert {r.url: r.error for r in result.failed_requests} == {
        "https://cdn.example.com/lib.js": "net::ERR_TUNNEL_CONNECTION_FAILED",
        "http://images.example.org/logo.png": "HTTP 502",
        (tmp_path / "missing.png").as_uri(): "net::ERR_FILE_NOT_FOUND",
    }
    assert result.local_files == [(tmp_path / "missing.png").as_uri()]
    assert len(result.problems()) >= 5
    assert png_size(result.png_path) == (WIDTH, 800)


def test_missing_chromium_says_how_to_install(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    with pytest.raises(BrowserError, match="make test"):
        render_offline(page, tmp_path / "p.png", chromium=str(tmp_path / "no-chromium"))
