"""The sustainability report: its figures, and their HTML and Markdown, on plain dicts."""

import copy
import json
import math
import re

import pytest
from helpers import energy_figures
from html_sections import num, parse, rows_by_first

from greenkfp.components._shared.errors import InputError
from greenkfp.components.sustainability import report, summary, task
from greenkfp.components.sustainability.report import render_sustainability_report
from greenkfp.components.sustainability.task import run_sustainability_report

STEP_KWH = {
    "import": 1.0e-6,
    "train_statistics": 2.0e-6,
    "eval_statistics": 1.5e-6,
    "schema": 0.5e-6,
    "validation": 0.7e-6,
    "training": 3.2e-4,
    "compression": 4.4e-4,
    "fairness": 6.0e-5,
    "gate": 2.0e-7,
    "deployment": 9.0e-6,
}

COMPRESSION = {
    "base_bytes": 40000.0,
    "compressed_bytes": 11000.0,
    "base_gzip_bytes": 36000.0,
    "compressed_gzip_bytes": 6000.0,
    "base_accuracy": 0.81,
    "compressed_accuracy": 0.8,
    "base_auc": 0.86,
    "compressed_auc": 0.855,
    "base_latency_p50_ms": 0.08,
    "compressed_latency_p50_ms": 0.05,
    "base_latency_p95_ms": 0.1,
    "compressed_latency_p95_ms": 0.07,
    "base_inference_energy_kwh_per_1k": 2.0e-6,
    "compressed_inference_energy_kwh_per_1k": 1.25e-6,
    "size_ratio": 3.636,
    "gzip_size_ratio": 6.0,
    "accuracy_drop": 0.01,
    "auc_drop": 0.005,
    "latency_speedup_p50": 1.6,
    "inference_energy_ratio": 1.6,
    "sparsity": 0.5,
}

FAIRNESS = {
    "auc": 0.85,
    "accuracy": 0.8,
    "precision": 0.7,
    "recall": 0.6,
    "example_count": 200.0,
    "false_positive_rate_gap_sex@0.5": 0.12,
    "false_positive_rate_ratio_sex@0.5": 0.6,
    "false_positive_rate_gap_significant_sex@0.5": 0.0,
    "positive_rate_gap_sex@0.5": 0.2,
    "false_negative_rate_gap_age@0.5": 0.31,
    "true_positive_rate_gap_age@0.5": 0.31,
    "max_fairness_gap": 0.31,
    "baseline_false_positive_rate_gap_sex@0.5": 0.1,
    "delta_false_positive_rate_gap_sex@0.5": 0.02,
    "baseline_auc": 0.86,
}

BLESSING = {
    "approved": False,
    "reasons": ["max_fairness_gap: 0.31 > 0.25 (fairness.max_fairness_gap)"],
    "checks": [
        {
            "name": "min_auc",
            "metric": "fairness.auc",
            "value": 0.85,
            "threshold": 0.75,
            "comparison": ">=",
            "verdict": "pass",
            "detail": "",
        },
        {
            "name": "max_fairness_gap",
            "metric": "fairness.max_fairness_gap",
            "value": 0.31,
            "threshold": 0.25,
            "comparison": "<=",
            "verdict": "fail",
            "detail": "",
        },
        {
            "name": "min_improvement_vs_live",
            "metric": "",
            "value": None,
            "threshold": 0.0,
            "comparison": ">=",
            "verdict": "skipped",
            "detail": "no live model in the registry",
        },
    ],
    "energy_method": "cpu_load_estimate",
    "country_iso_code": "DEU",
    "region": "",
}

DEPLOYMENT = {
    "deployed": False,
    "version": 0,
    "pushed_uri": "",
    "live": False,
    "reasons": ["the gate did not bless the model"],
    "energy_method": "cpu_load_estimate",
    "country_iso_code": "DEU",
}


def full_inputs():
    inputs = {name: energy_figures(kwh) for name, kwh in STEP_KWH.items()}
    inputs["compression"].update(COMPRESSION)
    inputs["fairness"].update(FAIRNESS)
    inputs["gate"].update({"approved": 0.0, "checks_passed": 1.0, "checks_failed": 1.0})
    inputs["deployment"].update({"deployed": 0.0, "version": 0.0, "live": 0.0})
    return inputs


def test_every_section_with_real_figures():
    figures = run_sustainability_report(
        step_metrics=full_inputs(),
        blessing=BLESSING,
        deployment=DEPLOYMENT,
        embodied_g_co2eq_per_1k=-1.0,
    )
    sections = parse(render_sustainability_report(figures))
    assert list(sections) == [
        "Energy and emissions per step",
        "Carbon intensity and method",
        "Emissions as run, at the annual average, at the best window",
        "Model before and after compression",
        "Fairness gaps per feature",
        "Deployment gate",
        "Deployment outcome",
        "Feature attributions of the deployed model",
        "Software Carbon Intensity of serving, per 1,000 predictions",
    ]
    energy = rows_by_first(sections["Energy and emissions per step"]["tables"][0])
    expected_total = sum(STEP_KWH.values())
    assert figures.energy_kwh_total == pytest.approx(expected_total)
    assert num(energy["total"][0]) == pytest.approx(expected_total, rel=1e-3)
    assert num(energy["train_model"][0]) == pytest.approx(STEP_KWH["training"], rel=1e-3)
    assert num(energy["total"][4]) == pytest.approx(expected_total * 0.4, rel=1e-3)
    assert len(energy) == len(task.STEPS) + 1
    carbon = rows_by_first(sections["Carbon intensity and method"]["tables"][0])
    assert num(carbon["carbon intensity, run average (g CO2eq/kWh)"][0]) == pytest.approx(400)
    assert carbon["energy method"] == ["cpu_load_estimate"]
    assert "DEU" in carbon["grid country / region"][0]

    comp = rows_by_first(sections["Model before and after compression"]["tables"][0])
    assert [num(v) for v in comp["Size (TFLite)"][:2]] == [40000, 11000]
    assert [num(v) for v in comp["Accuracy (eval)"][:2]] == [0.81, 0.8]

    fair = sections["Fairness gaps per feature"]["tables"][1]
    assert fair[0][:4] == ["feature", "threshold", "metric", "gap (candidate)"]
    by_key = {(r[0], r[2]): r for r in fair[1:]}
    assert set(by_key) == {
        ("sex", "false_positive_rate"),
        ("sex", "positive_rate"),
        ("age", "false_negative_rate"),
        ("age", "true_positive_rate"),
    }
    sex_fpr = by_key[("sex", "false_positive_rate")]
    assert [num(v) for v in sex_fpr[3:7]] == [0.12, 0.1, 0.02, 0.6]
    assert figures.worst_fairness_gap == 0.31

    gate = sections["Deployment gate"]
    assert "REFUSED" in gate["text"]
    checks = {r[0]: r for r in gate["tables"][0][1:]}
    for check in BLESSING["checks"]:
        assert check["name"] in checks
    assert checks["max_fairness_gap"][4] == "FAIL"
    assert checks["min_auc"][4] == "pass"
    assert checks["min_improvement_vs_live"][4] == "skipped"
    assert "0.31 > 0.25" in gate["text"]

    deployed = rows_by_first(sections["Deployment outcome"]["tables"][0])
    assert deployed["deployed"] == ["no"]
    assert "the gate did not bless the model" in sections["Deployment outcome"]["text"]

    sci_section = sections["Software Carbon Intensity of serving, per 1,000 predictions"]
    sci = rows_by_first(sci_section["tables"][0])
    hand = 1.25e-6 * 400.0
    assert num(sci["SCI (g CO2eq per 1,000 predictions)"][0]) == pytest.approx(hand, rel=1e-3)
    assert figures.sci["sci_g_co2eq_per_1k_predictions"] == pytest.approx(hand)
    assert sci["embodied emissions (g CO2eq)"] == ["–"]
    assert "not included" in sci_section["text"]


def test_emissions_as_run_annual_and_best_window():
    inputs = full_inputs()
    # training and compression were priced by a provider at 100 g/kWh, best window 60 g/kWh;
    # the others only have codecarbon's annual average (400 g/kWh).
    for name in ("training", "compression"):
        kwh = STEP_KWH[name]
        inputs[name].update(
            emissions_kg_co2eq=kwh * 0.1,
            carbon_intensity_g_per_kwh=100.0,
            emissions_kg_co2eq_annual_average=kwh * 0.4,
            carbon_intensity_annual_average_g_per_kwh=400.0,
            emissions_kg_co2eq_best_window=kwh * 0.06,
            carbon_intensity_best_window_g_per_kwh=60.0,
        )
    figures = run_sustainability_report(step_metrics=inputs)
    c = figures.carbon
    priced = STEP_KWH["training"] + STEP_KWH["compression"]
    others = sum(STEP_KWH.values()) - priced
    assert (c["steps_priced"], c["steps_metered"]) == (2, 10)
    assert c["emissions_kg_annual_average"] == pytest.approx(sum(STEP_KWH.values()) * 0.4)
    assert c["emissions_kg_as_run"] == pytest.approx(priced * 0.1 + others * 0.4)
    assert c["emissions_kg_best_window"] == pytest.approx(priced * 0.06 + others * 0.4)
    assert c["emissions_kg_best_window"] <= c["emissions_kg_as_run"]
    assert figures.emissions_kg_co2eq_total == pytest.approx(c["emissions_kg_as_run"])
    metrics = figures.figures
    assert metrics["emissions_kg_co2eq_annual_average_total"] == c["emissions_kg_annual_average"]
    assert metrics["emissions_kg_co2eq_best_window_total"] == c["emissions_kg_best_window"]

    own = {"carbon_intensity_source": "forecast file f.csv", "carbon_intensity_note": ""}
    section = parse(render_sustainability_report(figures, own))[
        "Emissions as run, at the annual average, at the best window"
    ]
    rows = rows_by_first(section["tables"][0])
    assert [num(v) for v in rows["train_model"][:6]] == pytest.approx(
        [STEP_KWH["training"] * k for k in (0.1, 0.4, 0.06)] + [100.0, 400.0, 60.0], rel=1e-3
    )
    assert rows["import_csv"][2] == "–"  # no provider priced it: no best window
    assert [num(v) for v in rows["total"][:3]] == pytest.approx(
        [c["emissions_kg_as_run"], c["emissions_kg_annual_average"], c["emissions_kg_best_window"]],
        rel=1e-3,
    )
    assert "2 of 10 steps" in section["text"] and "forecast file f.csv" in section["text"]
    markdown = summary.render_sustainability_summary(figures)
    assert "(2 of 10 steps priced by a provider)" in markdown


def test_without_a_provider_all_three_are_the_annual_average():
    figures = run_sustainability_report(step_metrics=full_inputs())
    c = figures.carbon
    assert c["steps_priced"] == 0
    assert (
        c["emissions_kg_as_run"]
        == c["emissions_kg_annual_average"]
        == c["emissions_kg_best_window"]
        == pytest.approx(figures.emissions_kg_co2eq_total)
    )
    section = parse(render_sustainability_report(figures))[
        "Emissions as run, at the annual average, at the best window"
    ]
    assert "No provider priced the steps" in section["text"]


def test_metrics_and_record():
    figures = run_sustainability_report(
        step_metrics=full_inputs(), blessing=BLESSING, deployment=DEPLOYMENT
    )
    m = figures.figures
    assert m["energy_kwh_total"] == pytest.approx(sum(STEP_KWH.values()))
    assert m["emissions_kg_co2eq_total"] == pytest.approx(sum(STEP_KWH.values()) * 0.4)
    assert m["approved"] == 0.0 and m["deployed"] == 0.0 and m["deployed_version"] == 0.0
    assert m["size_ratio"] == 3.636 and m["latency_speedup"] == 1.6
    assert m["worst_fairness_gap"] == 0.31
    assert m["sci_g_co2eq_per_1k_predictions"] == pytest.approx(5e-4)
    assert m["steps_reported"] == 10
    assert all(isinstance(v, float) for v in m.values())
    # No own-energy key collides with the totals.
    assert "energy_kwh" not in m
    record = json.loads(json.dumps(figures.to_dict(), allow_nan=False))
    assert record["metrics"] == m


def test_embodied_is_added_when_given():
    figures = run_sustainability_report(
        step_metrics=full_inputs(),
        blessing=BLESSING,
        deployment=DEPLOYMENT,
        embodied_g_co2eq_per_1k=0.02,
    )
    assert figures.sci["sci_g_co2eq_per_1k_predictions"] == pytest.approx(5e-4 + 0.02)
    assert figures.sci["embodied_g_co2eq_per_1k"] == 0.02
    assert "not included" not in figures.sci["note"]


def test_sci_uses_run_average_without_compression_intensity():
    inputs = full_inputs()
    del inputs["compression"]["carbon_intensity_g_per_kwh"]
    inputs["training"]["carbon_intensity_g_per_kwh"] = 100.0
    inputs["training"]["emissions_kg_co2eq"] = STEP_KWH["training"] * 0.1
    figures = run_sustainability_report(step_metrics=inputs)
    assert figures.sci["carbon_intensity_g_per_kwh"] == pytest.approx(
        1000 * figures.emissions_kg_co2eq_total / figures.energy_kwh_total
    )
    assert "average" in figures.sci["intensity_source"]


def test_nothing_given_degrades_gracefully():
    figures = run_sustainability_report(step_metrics={})
    page = render_sustainability_report(figures)
    sections = parse(page)
    assert len(sections) == 9
    for title in list(sections)[2:]:
        assert report.NOT_RUN in sections[title]["text"], title
    assert figures.figures == {
        "energy_kwh_total": 0.0,
        "energy_kwh_total_low": 0.0,
        "energy_kwh_total_high": 0.0,
        "emissions_kg_co2eq_total": 0.0,
        "steps_reported": 0.0,
    }
    assert figures.energy_method == "see each step"
    markdown = summary.render_sustainability_summary(figures)
    assert markdown.count(report.NOT_RUN) == len(task.STEPS) + 5


def test_partial_run_marks_missing_steps():
    inputs = {"import": energy_figures(1e-6), "training": energy_figures(2e-4)}
    figures = run_sustainability_report(step_metrics=inputs, blessing=None, deployment=None)
    energy = rows_by_first(
        parse(render_sustainability_report(figures))["Energy and emissions per step"]["tables"][0]
    )
    assert energy["compress_model"][0] == report.NOT_RUN
    assert num(energy["total"][0]) == pytest.approx(2.01e-4, rel=1e-3)
    assert "sci_g_co2eq_per_1k_predictions" not in figures.figures
    assert "compression not run" in figures.sci["note"]


def test_gate_and_deployment_from_metrics_only():
    figures = run_sustainability_report(step_metrics=full_inputs())
    assert figures.gate == {"approved": False, "reasons": [], "checks": None}
    assert figures.deployment["deployed"] is False
    assert (
        "checks are in its blessing"
        in parse(render_sustainability_report(figures))["Deployment gate"]["text"]
    )


def test_deployed_version_and_markdown():
    deployment = dict(DEPLOYMENT, deployed=True, version=3, live=True, reasons=[])
    deployment["pushed_uri"] = "/tmp/registry/credit/3"
    blessing = dict(BLESSING, approved=True, reasons=[])
    figures = run_sustainability_report(
        step_metrics=full_inputs(), blessing=blessing, deployment=deployment
    )
    assert figures.figures["deployed_version"] == 3.0
    assert figures.figures["approved"] == 1.0
    markdown = summary.render_sustainability_summary(figures)
    assert "version 3 pushed" in markdown and "**APPROVED**" in markdown
    for check in BLESSING["checks"]:
        assert check["name"] in markdown


def test_html_is_self_contained():
    page = render_sustainability_report(
        run_sustainability_report(
            step_metrics=full_inputs(), blessing=BLESSING, deployment=DEPLOYMENT
        )
    )
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert "<script" not in page and "<link" not in page
    assert page.count("<svg") == 3  # energy, emissions, fairness gaps


def test_own_energy_summary_and_metadata():
    figures = run_sustainability_report(
        step_metrics=full_inputs(), blessing=BLESSING, deployment=DEPLOYMENT
    )
    own = {"energy_kwh": 1e-7, "emissions_kg_co2eq": 4e-8, "duration_s": 0.1}
    sections = parse(render_sustainability_report(figures, own))
    assert "This report step (not in the totals)" in sections
    assert summary.render_sustainability_summary(figures).startswith("# Sustainability summary")
    assert figures.metadata == {"sustainability": figures.to_dict()}


def test_read_record_falls_back_to_the_json_file(tmp_path):
    path = tmp_path / "blessing"
    path.write_text(json.dumps({"approved": True, "checks": [], "reasons": []}))
    record = task.read_record({"energy_method": "rapl"}, str(path), "approved")
    assert record["approved"] is True and record["energy_method"] == "rapl"
    assert task.read_record({"approved": False}, "", "approved") == {"approved": False}
    path.write_text("not json")
    with pytest.raises(InputError, match="not a JSON record"):
        task.read_record({}, str(path), "approved")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda i, b, d: i["training"].update(energy_kwh=-1.0), "training_metrics: energy_kwh"),
        (
            lambda i, b, d: i["gate"].update(emissions_kg_co2eq=math.nan),
            "gate_metrics: emissions_kg_co2eq",
        ),
        (lambda i, b, d: i.update(training=[1, 2]), "training_metrics: metrics must be a dict"),
        (lambda i, b, d: i.update(bogus={}), "unknown step"),
        (lambda i, b, d: b.pop("approved"), "blessing: has no boolean 'approved'"),
        (lambda i, b, d: b.update(checks="all good"), "'checks' must be a list"),
        (lambda i, b, d: d.update(deployed="yes"), "deployment: has no boolean 'deployed'"),
    ],
)
def test_bad_input_is_a_clear_input_error(mutate, message):
    inputs, blessing, deployment = full_inputs(), copy.deepcopy(BLESSING), dict(DEPLOYMENT)
    mutate(inputs, blessing, deployment)
    with pytest.raises(InputError, match=re.escape(message)):
        run_sustainability_report(step_metrics=inputs, blessing=blessing, deployment=deployment)


def test_non_dict_arguments_are_input_errors():
    with pytest.raises(InputError, match="step_metrics must be a dict"):
        run_sustainability_report(step_metrics=["training"])
    with pytest.raises(InputError, match="blessing: must be a dict"):
        run_sustainability_report(step_metrics={}, blessing="approved")
    with pytest.raises(InputError, match="embodied_g_co2eq_per_1k"):
        run_sustainability_report(step_metrics={}, embodied_g_co2eq_per_1k=math.nan)


def test_totals_carry_the_sum_of_the_steps_bounds_and_keplers_figures():
    inputs = full_inputs()
    for name, kwh in STEP_KWH.items():
        inputs[name].update(energy_kwh_low=0.5 * kwh, energy_kwh_high=2.0 * kwh)
    del inputs["import"]["energy_kwh_low"]  # a step without a bound counts at its value
    inputs["training"]["kepler_energy_kwh"] = 2.5e-4
    inputs["compression"]["kepler_energy_kwh"] = 3.0e-4
    figures = run_sustainability_report(step_metrics=inputs)
    total = sum(STEP_KWH.values())
    m = figures.figures
    assert m["energy_kwh_total_low"] == pytest.approx(0.5 * total + 0.5 * STEP_KWH["import"])
    assert m["energy_kwh_total_high"] == pytest.approx(2.0 * total)
    assert m["energy_kwh_total_low"] <= m["energy_kwh_total"] <= m["energy_kwh_total_high"]
    assert m["kepler_energy_kwh_total"] == pytest.approx(5.5e-4) and figures.kepler_steps == 2

    sections = parse(render_sustainability_report(figures))
    energy = sections["Energy and emissions per step"]
    table = energy["tables"][0]
    header = table[0]
    assert header[-2:] == ["energy bound (kWh)", "Kepler, pod CPU (kWh)"]
    rows = rows_by_first(table)
    low, high = (num(x) for x in rows["train_model"][-2].split(" – "))
    assert (low, high) == pytest.approx((0.5 * 3.2e-4, 2.0 * 3.2e-4))
    assert num(rows["train_model"][-1]) == pytest.approx(2.5e-4)
    assert rows["validate_data"][-1] == "–"  # no Kepler figure for that step
    assert num(rows["total"][-1]) == pytest.approx(5.5e-4)
    assert "energy bound, total (kWh)" in energy["text"]
    method = rows_by_first(sections["Carbon intensity and method"]["tables"][0])
    assert method["Kepler cross-check, total"] == ["0.00055 kWh over 2 step(s)"]
    markdown = summary.render_sustainability_summary(figures)
    assert f"({m['energy_kwh_total_low']:.4g} to {m['energy_kwh_total_high']:.4g} kWh)" in markdown
    assert "| train_model | 0.00032 | 0.00016 – 0.00064 |" in markdown


def test_no_kepler_figure_says_so():
    figures = run_sustainability_report(step_metrics=full_inputs())
    assert (
        figures.kepler_energy_kwh_total is None and "kepler_energy_kwh_total" not in figures.figures
    )
    assert "no Kepler figure" in summary.render_sustainability_summary(figures)


ATTRIBUTIONS = {
    "method": "permutation importance (ROC AUC drop, 3 seeded shuffles)",
    "baseline_auc": 0.78,
    "rows": 300,
    "repeats": 3,
    "global": [
        {"feature": "checking_status", "auc_drop": 0.12, "std": 0.02},
        {"feature": "duration", "auc_drop": 0.05, "std": 0.01},
        {"feature": "noise", "auc_drop": -0.004, "std": 0.003},
    ],
    "slices": {
        "sex": {
            "female": [
                {"feature": "duration", "auc_drop": 0.09, "std": 0.03},
                {"feature": "checking_status", "auc_drop": 0.07, "std": 0.02},
            ],
            "male": [{"feature": "checking_status", "auc_drop": 0.15, "std": 0.01}],
        }
    },
}


def test_attribution_section_charts_global_and_per_slice_with_error_bars():
    figures = run_sustainability_report(step_metrics={}, attributions=ATTRIBUTIONS)
    page = render_sustainability_report(figures)
    section = parse(page)["Feature attributions of the deployed model"]
    table = section["tables"][0]
    assert table[0] == ["feature", "all rows", "sex = female", "sex = male"]
    rows = rows_by_first(table)
    assert list(rows) == ["checking_status", "duration", "noise"]  # global order
    assert rows["checking_status"] == ["0.12 ± 0.02", "0.07 ± 0.02", "0.15 ± 0.01"]
    assert rows["duration"][2] == "–"  # not ranked in that slice
    assert "300 eval rows" in section["text"] and "0.78" in section["text"]
    html_part = page.split("Feature attributions of the deployed model")[1].split("<h2>")[0]
    # three charts (all rows, female, male); one error bar per drawn bar with a spread
    assert html_part.count("<svg") == 3
    assert html_part.count('class="err"') == 3 + 2 + 1
    assert "± 0.02" in html_part
    markdown = summary.render_sustainability_summary(figures)
    assert "- Top features (ROC AUC drop when shuffled): checking_status 0.12, duration" in markdown


def test_attribution_section_without_attributions_says_not_run():
    section = parse(render_sustainability_report(run_sustainability_report(step_metrics={})))[
        "Feature attributions of the deployed model"
    ]
    assert report.NOT_RUN in section["text"] and "attributions.json" in section["text"]
    with pytest.raises(InputError, match="attributions: expected"):
        run_sustainability_report(step_metrics={}, attributions={"global": [{"x": 1}]})


def test_read_attributions_from_the_deployed_version(tmp_path):
    version = tmp_path / "registry" / "m" / "1"
    version.mkdir(parents=True)
    deployed = {"deployed": True, "pushed_uri": str(version)}
    assert task.read_attributions(deployed) is None  # the version has none
    assert task.read_attributions({"deployed": False, "pushed_uri": ""}) is None
    (version / "attributions.json").write_text(json.dumps(ATTRIBUTIONS))
    assert task.read_attributions(deployed) == ATTRIBUTIONS
    (version / "attributions.json").write_text("{not json")
    with pytest.raises(InputError, match="attributions.json is not JSON"):
        task.read_attributions(deployed)
