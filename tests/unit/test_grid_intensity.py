"""A step's emissions at the grid intensity of its own window (components/_shared/grid_*.py).

The Carbon Aware SDK fake answers ``GET /emissions/bylocations`` with the WebAPI's
``EmissionsData`` shape (``{location, time, rating, duration}``, duration a TimeSpan), so
these tests check our side of the contract, not a real service.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest
from helpers import FakeJsonApi, closed_port_url, local_http_server

from greenkfp.components._shared.energy_reading import EnergyReading
from greenkfp.components._shared.grid_forecast import ForecastPoint, IntensitySeries
from greenkfp.components._shared.grid_intensity import price_reading, run_emissions
from greenkfp.components._shared.grid_locations import (
    VERTEX_REGIONS,
    LocationError,
    provider_location,
)
from greenkfp.components._shared.metering import metered_step
from greenkfp.pipelines.runners.local import StepResult, _carbon_figures

END = datetime(2024, 6, 1, 3, 0, tzinfo=timezone.utc)
HALF_HOUR = timedelta(minutes=30)
# Half-hourly intensity of europe-west4 from 00:00 to 06:00; the step runs 02:00-03:00.
VALUES = [300, 280, 260, 240, 200, 100, 150, 250, 90, 60, 70, 80]
STEP_MEAN = (200 + 100) / 2  # 02:00-02:30 at 200, 02:30-03:00 at 100
BEST = (60 + 70) / 2  # 04:30-05:30


def write_forecast(path, start=END - 6 * HALF_HOUR, location="europe-west4"):
    rows = ["time,location,g_co2eq_per_kwh"]
    rows += [
        f"{(start + i * HALF_HOUR).isoformat().replace('+00:00', 'Z')},{location},{v}"
        for i, v in enumerate(VALUES)
    ]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def reading(kwh=0.002, annual=400.0, duration_s=3600.0):
    return EnergyReading(
        duration_s=duration_s,
        energy_kwh=kwh,
        emissions_kg_co2eq=kwh * annual / 1000,
        carbon_intensity_g_per_kwh=annual,
        country_iso_code="NLD",
    )


def env(**values):
    return {"GREENKFP_GRID_LOCATION": "europe-west4", **values}


def test_a_forecast_file_prices_the_step_at_its_own_window(tmp_path):
    r = reading()
    price_reading(r, END, env(GREENKFP_CARBON_FORECAST=write_forecast(tmp_path / "f.csv")))
    assert r.carbon_intensity_g_per_kwh == pytest.approx(STEP_MEAN)
    assert r.emissions_kg_co2eq == pytest.approx(0.002 * STEP_MEAN / 1000)
    assert r.emissions_kg_co2eq_annual_average == pytest.approx(0.002 * 400 / 1000)
    assert r.carbon_intensity_annual_average_g_per_kwh == 400.0
    assert r.carbon_intensity_best_window_g_per_kwh == pytest.approx(BEST)
    assert r.emissions_kg_co2eq_best_window == pytest.approx(0.002 * BEST / 1000)
    assert r.best_window_start == "2024-06-01T04:30:00Z"
    assert r.emissions_kg_co2eq_best_window <= r.emissions_kg_co2eq
    assert r.carbon_intensity_source == f"forecast file {tmp_path / 'f.csv'}"
    assert (r.carbon_intensity_location, r.carbon_intensity_note) == ("europe-west4", "")
    metrics, metadata = r.metrics(), r.metadata()
    assert metrics["emissions_kg_co2eq_best_window"] == r.emissions_kg_co2eq_best_window
    assert metadata["carbon_intensity_source"] == r.carbon_intensity_source


def test_the_best_window_is_the_brute_force_minimum():
    points = [
        ForecastPoint(END - 6 * HALF_HOUR + i * HALF_HOUR, "x", float(v))
        for i, v in enumerate(VALUES)
    ]
    series = IntensitySeries("x", points)
    for length in (timedelta(minutes=10), HALF_HOUR, 3 * HALF_HOUR, timedelta(hours=4)):
        starts = [points[0].time + timedelta(minutes=5 * k) for k in range(12 * 6)]
        means = [series.mean(s, length) for s in starts]
        brute = min(m for m in means if m is not None)
        start, best = series.best_window(length, points[0].time, series.end)
        assert best == pytest.approx(brute) and series.mean(start, length) == pytest.approx(best)


def test_without_a_provider_the_annual_average_stays_and_says_so():
    r = reading()
    price_reading(r, END, {})
    assert r.emissions_kg_co2eq == r.emissions_kg_co2eq_annual_average == pytest.approx(0.0008)
    assert r.emissions_kg_co2eq_best_window is None
    assert "emissions_kg_co2eq_best_window" not in r.metrics()
    assert r.carbon_intensity_source == "annual average (NLD)"
    assert "no provider configured" in r.carbon_intensity_note


class FakeSdk(FakeJsonApi):
    """GET /emissions/bylocations as the WebAPI answers it; ``mode`` breaks it on purpose."""

    mode = "ok"
    queries = []

    def answer(self, path, query):
        data = [
            {
                "location": "westeurope",
                "time": (END - 6 * HALF_HOUR + i * HALF_HOUR).isoformat(),
                "rating": v,
                "duration": "00:30:00",
            }
            for i, v in enumerate(VALUES)
        ]
        body = {"ok": json.dumps(data), "garbage": "<html>oops</html>"}.get(FakeSdk.mode, "[]")
        if FakeSdk.mode == "wrong-shape":
            body = json.dumps([{"location": "westeurope", "time": "yesterday", "rating": 1}])
        return 500 if FakeSdk.mode == "error" else 200, body


@pytest.fixture
def sdk():
    FakeSdk.mode, FakeSdk.queries = "ok", []
    with local_http_server(FakeSdk) as url:
        yield url


def test_the_carbon_aware_sdk_prices_the_step_from_its_history(sdk):
    r = reading()
    price_reading(r, END, env(GREENKFP_CARBON_AWARE_URL=sdk))
    assert r.carbon_intensity_g_per_kwh == pytest.approx(STEP_MEAN)
    assert r.carbon_intensity_best_window_g_per_kwh == pytest.approx(BEST)
    assert r.carbon_intensity_source == f"Carbon Aware SDK at {sdk}"
    [(path, query)] = FakeSdk.queries
    assert path == "/emissions/bylocations"
    assert query["location"] == ["westeurope"]  # europe-west4, as the SDK names it
    assert query["time"] == ["2024-05-31T02:00:00Z"]  # 24 h before the step
    assert query["toTime"] == ["2024-06-02T03:00:00Z"]  # 24 h after it


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("down", "unreachable"),
        ("slow", "did not answer within 0.3 s"),
        ("error", "HTTP 500"),
        ("garbage", "malformed JSON"),
        ("wrong-shape", "malformed point"),
        ("empty", "has no data for europe-west4"),
    ],
)
def test_a_failing_provider_leaves_the_annual_average_and_the_reason(sdk, capsys, mode, reason):
    FakeSdk.mode = mode
    url = closed_port_url() if mode == "down" else sdk
    r = reading()
    price_reading(r, END, env(GREENKFP_CARBON_AWARE_URL=url, GREENKFP_PROVIDER_TIMEOUT="0.3"))
    assert r.emissions_kg_co2eq == r.emissions_kg_co2eq_annual_average == pytest.approx(0.0008)
    assert r.carbon_intensity_g_per_kwh == 400.0 and r.emissions_kg_co2eq_best_window is None
    assert r.carbon_intensity_source == "annual average (NLD)"
    assert (
        reason in r.carbon_intensity_note
        and "the annual average was used" in r.carbon_intensity_note
    )
    assert reason in capsys.readouterr().err


def test_data_that_misses_the_step_leaves_the_annual_average(tmp_path):
    forecast = write_forecast(tmp_path / "f.csv", start=END + timedelta(days=1))
    r = reading()
    price_reading(r, END, env(GREENKFP_CARBON_FORECAST=forecast))
    assert r.carbon_intensity_g_per_kwh == 400.0
    assert "not the step (2024-06-01T02:00:00Z .. 2024-06-01T03:00:00Z)" in r.carbon_intensity_note


def test_a_vertex_region_the_provider_cannot_name_is_said_not_raised(sdk):
    r = reading()
    price_reading(
        r, END, {"GREENKFP_GRID_LOCATION": "mars-north1", "GREENKFP_CARBON_AWARE_URL": sdk}
    )
    assert "no carbon-aware-sdk location is known for the Vertex region 'mars-north1'" in (
        r.carbon_intensity_note
    )
    assert r.carbon_intensity_source == "annual average (NLD)" and FakeSdk.queries == []


def test_a_location_without_a_provider_is_said_not_raised():
    r = reading()
    price_reading(r, END, env())
    assert "GREENKFP_GRID_LOCATION is set but no provider" in r.carbon_intensity_note


def test_metered_step_prices_the_real_reading(tmp_path, monkeypatch):
    # VALUES[6] holds from a minute ago on, so the step's window lies inside it.
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    forecast = write_forecast(tmp_path / "f.csv", start=now - 6 * HALF_HOUR)
    monkeypatch.setenv("GREENKFP_GRID_LOCATION", "europe-west4")
    monkeypatch.setenv("GREENKFP_CARBON_FORECAST", forecast)
    with metered_step(str(tmp_path / "step"), country_iso_code="NLD") as r:
        sum(range(100_000))
    assert r.carbon_intensity_note == "" and r.carbon_intensity_location == "europe-west4"
    assert r.carbon_intensity_g_per_kwh == pytest.approx(VALUES[6])  # the half hour holding now
    assert r.emissions_kg_co2eq == pytest.approx(r.energy_kwh * VALUES[6] / 1000)
    assert r.carbon_intensity_annual_average_g_per_kwh > 0
    assert r.carbon_intensity_best_window_g_per_kwh == pytest.approx(min(VALUES))


def test_run_emissions_and_run_summary_agree():
    priced = {
        "emissions_kg_co2eq": 0.02,
        "emissions_kg_co2eq_annual_average": 0.08,
        "emissions_kg_co2eq_best_window": 0.01,
        "carbon_intensity_source": "forecast file f.csv",
    }
    annual = {"emissions_kg_co2eq": 0.05, "emissions_kg_co2eq_annual_average": 0.05}
    old = {"emissions_kg_co2eq": 0.001}  # a step from before the grid keys
    figures = run_emissions([priced, annual, None, old])
    assert figures == {
        "emissions_kg_as_run": pytest.approx(0.071),
        "emissions_kg_annual_average": pytest.approx(0.131),
        "emissions_kg_best_window": pytest.approx(0.061),
        "steps_priced": 1,
        "steps_metered": 3,
        "carbon_intensity_source": "forecast file f.csv",
    }
    steps = [
        StepResult(f"s{i}", "succeeded", 1.0, energy=e) for i, e in enumerate([priced, annual])
    ]
    steps.append(StepResult("failed", "failed", 1.0))
    summary = _carbon_figures(steps)
    assert summary["emissions_kg_best_window"] <= summary["emissions_kg_as_run"]
    assert summary == {k: v for k, v in run_emissions([priced, annual]).items() if k in summary}
    assert set(summary) == {
        "emissions_kg_as_run",
        "emissions_kg_annual_average",
        "emissions_kg_best_window",
        "steps_priced",
        "carbon_intensity_source",
    }


def test_vertex_regions_map_to_provider_names(monkeypatch):
    monkeypatch.delenv("GREENKFP_LOCATION_MAP", raising=False)
    assert provider_location("us-central1", "carbon-aware-sdk") == "centralus"
    assert provider_location("europe-west4", "electricitymaps") == "NL"
    assert provider_location("westus", "carbon-aware-sdk") == "westus"  # already the SDK's
    assert provider_location("US-CAL-CISO", "electricitymaps") == "US-CAL-CISO"
    assert all(
        set(names) == {"carbon-aware-sdk", "electricitymaps"} for names in VERTEX_REGIONS.values()
    )
    with pytest.raises(LocationError, match="no electricitymaps location is known for the Vertex"):
        provider_location("me-central2", "electricitymaps")
    monkeypatch.setenv("GREENKFP_LOCATION_MAP", "me-central2=SA, us-east1=southcentralus")
    assert provider_location("me-central2", "electricitymaps") == "SA"
    assert provider_location("us-east1", "carbon-aware-sdk") == "southcentralus"


class FakeElectricityMaps(FakeJsonApi):
    """GET /v3/carbon-intensity/history as Electricity Maps answers it."""

    seen = []
    queries = []

    def answer(self, path, query):
        zone = query["zone"][0]
        FakeElectricityMaps.seen.append((path, zone, self.headers.get("auth-token")))
        history = [
            {
                "zone": zone,
                "carbonIntensity": v,
                "datetime": (END - 6 * HALF_HOUR + i * HALF_HOUR).isoformat(),
            }
            for i, v in enumerate(VALUES)
        ]
        return 200, json.dumps({"zone": zone, "history": history})


def test_electricity_maps_prices_the_step_from_the_zone_history():
    FakeElectricityMaps.seen = []
    with local_http_server(FakeElectricityMaps) as url:
        r = reading()
        price_reading(
            r,
            END,
            env(ELECTRICITYMAPS_TOKEN="secret-token", GREENKFP_ELECTRICITYMAPS_URL=url),
        )
    assert FakeElectricityMaps.seen == [("/v3/carbon-intensity/history", "NL", "secret-token")]
    assert r.carbon_intensity_g_per_kwh == pytest.approx(STEP_MEAN)
    assert r.carbon_intensity_best_window_g_per_kwh == pytest.approx(BEST)
    assert r.carbon_intensity_source == f"Electricity Maps at {url}"
    assert "secret-token" not in json.dumps(r.to_dict())
