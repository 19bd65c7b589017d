"""The end-to-end pipeline through `greenkfp run`: approve, refuse, and a user's own CSV."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import load_summary, run_cli
from html_sections import num, parse, rows_by_first

from greenkfp.components.deployment import mct_card
from greenkfp.components.deployment.registry import Registry

pytestmark = pytest.mark.slow

MODEL = "greenkfp-model"
REPORT_SECTIONS = [
    "Energy and emissions per step",
    "Carbon intensity and method",
    "This report step (not in the totals)",
    "Emissions as run, at the annual average, at the best window",
    "Model before and after compression",
    "Fairness gaps per feature",
    "Fairness mitigation",
    "Deployment gate",
    "Deployment outcome",
    "Feature attributions of the deployed model",
    "Software Carbon Intensity of serving, per 1,000 predictions",
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared") / "registry"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, registry):
    """The demo as `make demo` runs it, with the registry outside the output folder."""
    out = tmp_path_factory.mktemp("first") / "run"
    result = run_cli("run", "--output-dir", str(out), "--registry", str(registry), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result, load_summary(out)


def _step(summary: dict, component: str) -> dict:
    return next(s for s in summary["steps"] if s["name"] == component)


def _metrics(summary: dict, component: str) -> dict:
    return _step(summary, component)["outputs"]["metrics"]["metadata"]


def test_approve_path_deploys_version_1(first_run, registry):
    out, result, summary = first_run
    assert summary["pipeline"] == "sustainable-training-pipeline"
    assert [s["status"] for s in summary["steps"]] == ["succeeded"] * 12
    assert summary["approved"] is True and summary["deployed"] is True
    assert summary["deployed_version"] == 1
    assert Registry(str(registry)).live_version(MODEL) == 1
    # Every check of the default policy, with its value and threshold.
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["min_auc"]["passed"] is True
    assert checks["min_auc"]["value"] == pytest.approx(
        _metrics(summary, "evaluate-fairness")["auc"]
    )
    assert checks["min_auc"]["threshold"] == 0.7
    assert {"max_training_emissions_kg", "max_inference_energy_kwh_per_1k"} <= set(checks)
    assert any(name.startswith("max_fairness_gap[false_negative_rate/") for name in checks)
    assert checks["min_improvement_vs_live"]["passed"] is None  # an empty registry: skipped
    assert all(c["passed"] in (True, None) for c in checks.values())
    # Energy per step and in total; the headline figures come from the steps that made them.
    assert all(s["energy_kwh"] > 0 and s["emissions_kg_co2eq"] > 0 for s in summary["steps"])
    assert summary["energy_kwh_total"] == pytest.approx(
        sum(s["energy_kwh"] for s in summary["steps"])
    )
    compression = _metrics(summary, "compress-model")
    assert summary["size_ratio"] == compression["size_ratio"]
    # auto ships a smaller candidate when one pays on measured energy, else the float32 model.
    assert (compression["size_ratio"] > 1.0) is (compression["fallback"] == 0.0)
    assert summary["latency_speedup"] == compression["latency_speedup_p50"] > 0
    assert (
        summary["worst_fairness_gap"] == _metrics(summary, "evaluate-fairness")["max_fairness_gap"]
    )
    assert Path(summary["report_html"]).is_file() and str(out.resolve()) in summary["report_html"]
    # The end-of-run table.
    assert "Gate decision        APPROVED" in result.stdout
    assert "Deployed version     1" in result.stdout
    assert f"HTML report          {summary['report_html']}" in result.stdout
    assert "[12/12] Sustainability report (sustainability-report) ok" in result.stdout
    # The default policy names no fairness remedy: the mitigation step passes the model on.
    assert summary["mitigation"] == "none" and summary["mitigation_gaps"] == []
    assert "mitigation: none" in summary["mitigation_reason"]
    # The cards, written at deploy time into the version, carry no path of this run.
    version = registry / MODEL / "1"
    texts = {
        name: (version / name).read_text()
        for name in ("model_card.md", "model_card.json", "README.md", "attributions.json")
    }
    mct_card.validate(json.loads(texts["model_card.json"]))
    for name, text in texts.items():
        assert str(out.resolve()) not in text and str(out) not in text, name
    assert "## EU AI Act technical documentation" in texts["model_card.md"]
    matter = yaml.safe_load(texts["README.md"].split("---\n")[1])
    assert matter["co2_eq_emissions"]["geographical_location"] != "not recorded"
    assert json.loads(texts["attributions.json"])["global"]


def test_report_has_every_section_with_the_run_figures(first_run):
    _, _, summary = first_run
    sections = parse(Path(summary["report_html"]).read_text())
    assert list(sections) == REPORT_SECTIONS
    energy = rows_by_first(sections["Energy and emissions per step"]["tables"][0])
    row_names = {
        "generate-statistics": "statistics (train)",
        "generate-statistics-2": "statistics (eval)",
    }
    for step in summary["steps"][:-1]:  # the report's own step is not in its table
        row = energy[row_names.get(step["name"], step["name"].replace("-", "_"))]
        assert num(row[0]) == pytest.approx(step["energy_kwh"], rel=1e-3), step["name"]
        assert num(row[4]) == pytest.approx(step["emissions_kg_co2eq"], rel=1e-3), step["name"]
    reported_total = sum(s["energy_kwh"] for s in summary["steps"][:-1])
    assert num(energy["total"][0]) == pytest.approx(reported_total, rel=1e-3)

    compression = _metrics(summary, "compress-model")
    before_after = rows_by_first(sections["Model before and after compression"]["tables"][0])
    size = [num(v) for v in before_after["Size (TFLite)"][:2]]
    assert size == [compression["base_bytes"], compression["compressed_bytes"]]

    fairness = sections["Fairness gaps per feature"]["tables"][1]
    assert {row[0] for row in fairness[1:]} == {"sex", "age"}

    gate = sections["Deployment gate"]
    assert "APPROVED" in gate["text"]
    assert {row[0] for row in gate["tables"][0][1:]} == {c["name"] for c in summary["checks"]}
    deployed = rows_by_first(sections["Deployment outcome"]["tables"][0])
    assert deployed["deployed"] == ["yes"] and deployed["version"] == ["1"]
    attributions = sections["Feature attributions of the deployed model"]["tables"][0]
    assert attributions[0][:2] == ["feature", "all rows"] and len(attributions) > 1
    sci = _metrics(summary, "sustainability-report")["sci_g_co2eq_per_1k_predictions"]
    assert sci > 0
    assert "not included" in sections[REPORT_SECTIONS[-1]]["text"]  # embodied emissions


def test_strict_policy_refuses_and_deploys_nothing(first_run, registry, tmp_path):
    policy = tmp_path / "strict.yaml"
    policy.write_text("min_auc: 0.99\nmin_improvement_vs_live: 0.0\n")
    out = tmp_path / "strict"
    result = run_cli(
        "run",
        "--output-dir",
        str(out),
        "--registry",
        str(registry),
        "--policy",
        str(policy),
        # One named method, not auto's measured grid: the refusal is the subject here.
        "--compression",
        "dynamic",
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = load_summary(out)
    assert summary["approved"] is False and summary["deployed"] is False
    assert "deployed_version" not in summary or summary["deployed_version"] is None
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["min_auc"]["passed"] is False and checks["min_auc"]["threshold"] == 0.99
    # The second run competed with the live model the first run deployed: its AUC less
    # v1's (the two runs ship different candidates: auto's choice, then dynamic).
    first_checks = {c["name"]: c for c in first_run[2]["checks"]}
    champion = checks["min_improvement_vs_live"]
    improvement = checks["min_auc"]["value"] - first_checks["min_auc"]["value"]
    assert champion["value"] == pytest.approx(improvement, abs=1e-9)
    assert champion["passed"] is (improvement >= 0.0)
    reg = Registry(str(registry))
    assert reg.live_version(MODEL) == 1
    assert [v.version for v in reg.versions(MODEL)] == [1]
    assert "Gate decision        REFUSED" in result.stdout
    assert "none (nothing deployed)" in result.stdout
    sections = parse(Path(summary["report_html"]).read_text())
    assert "REFUSED" in sections["Deployment gate"]["text"]
    outcome = sections["Deployment outcome"]
    assert rows_by_first(outcome["tables"][0])["deployed"] == ["no"]
    assert "the gate did not bless the model" in outcome["text"]


def test_user_csv_with_string_label_whitespace_and_question_marks(tmp_path, german_credit):
    data = german_credit.rename(columns={"risk": "y"})
    data["y"] = data["y"].map({1: "  yes", 0: "no  "})
    data["sex"] = " " + data["sex"] + " "
    data["race"] = pd.Series(["a", "b", "c", "d"] * 250)[: len(data)].values
    data = data.astype(object)
    data.loc[::7, "saving_accounts"] = "?"
    data.loc[::11, "credit_amount"] = "?"
    path = tmp_path / "user.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "user"
    result = run_cli(
        "run",
        "--data",
        str(path),
        "--label-column",
        "y",
        "--positive-label",
        "yes",
        "--sensitive-features",
        "sex,race",
        "--compression",
        "dynamic",
        "--epochs",
        "5",
        "--output-dir",
        str(out),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = load_summary(out)
    assert summary["status"] == "succeeded" and len(summary["steps"]) == 12
    imported = _metrics(summary, "import-csv")
    assert imported["train_rows"] + imported["eval_rows"] == len(data)
    assert _metrics(summary, "train-model")["auc"] > 0.6
    fairness = _metrics(summary, "evaluate-fairness")
    assert "false_negative_rate_gap_race@0.5" in fairness
    assert "false_negative_rate_gap_sex@0.5" in fairness
    assert summary["approved"] in (True, False) and summary["checks"]
    assert Path(summary["report_html"]).is_file()
    # The registry defaults to the output folder.
    if summary["deployed"]:
        assert Registry(str(out / "registry")).live_version(MODEL) == 1


def test_missing_policy_and_eval_files_are_bad_input(tmp_path):
    result = run_cli("run", "--policy", str(tmp_path / "nope.yaml"), "--output-dir", str(tmp_path))
    assert result.returncode == 2 and "cannot read --policy" in result.stderr
    result = run_cli(
        "run", "--eval-data", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path)
    )
    assert result.returncode == 2 and "--eval-data file not found" in result.stderr
    assert not (tmp_path / "run_summary.json").exists()


def test_bad_policy_is_refused_before_anything_runs(tmp_path):
    policy = tmp_path / "bad.yaml"
    policy.write_text("min_auc: 1.5\n")
    out = tmp_path / "bad"
    result = run_cli("run", "--output-dir", str(out), "--policy", str(policy))
    assert result.returncode == 2
    assert "min_auc" in result.stderr and "1.5" in result.stderr
    assert not out.exists()
