"""greenkfp submit --carbon-aware: forecast files, a fake Carbon Aware SDK WebAPI, the chooser.

The fake server answers ``GET /emissions/forecasts/current`` with the WebAPI's documented
shape (a list of EmissionsForecastDTO, whose forecastData items are
``{location, timestamp, duration, value}``), so these tests check our side of the contract.
"""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FakeJsonApi, closed_port_url, local_http_server
from helpers import submit_cli as cli

from greenkfp.components._shared.grid_forecast import (
    FileProvider,
    ForecastError,
    ForecastPoint,
    read_forecast_file,
)
from greenkfp.pipelines import ALL_PIPELINES
from greenkfp.pipelines.carbon.chooser import choose, parse_duration
from greenkfp.pipelines.carbon.submission import wait_until
from greenkfp.pipelines.cli import submit as submit_cli
from greenkfp.pipelines.runners.package import default_pipeline
from greenkfp.pipelines.tools.compiler import compile_to_file

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=30)
EXAMPLE = Path(submit_cli.__file__).parents[1] / "data" / "carbon_forecast_example.csv"
# Half-hourly forecasts over 8 hours; europe-north1 is cleanest at 03:00-04:00.
SERIES = {
    "europe-west4": [300 - 10 * i for i in range(8)] + [220 + 5 * i for i in range(8)],
    "europe-north1": [90, 80, 70, 60, 50, 40, 20, 10, 12, 30, 45, 60, 70, 80, 85, 90],
}


# The providers' names of the SERIES regions (components/_shared/grid_locations.py).
SDK_NAMES = {"europe-west4": "westeurope", "europe-north1": "swedencentral"}
EM_ZONES = {"europe-west4": "NL", "europe-north1": "FI"}
# What the WebAPI puts in each forecastData item: its data source's zone, not the location.
SDK_ZONES = {"westeurope": "NL", "swedencentral": "SE3"}


def sdk_forecasts():
    """The /emissions/forecasts/current answer for SERIES, as the WebAPI shapes it."""
    answer = []
    for region, values in SERIES.items():
        location = SDK_NAMES[region]
        data = [
            {
                "location": SDK_ZONES[location],
                "timestamp": (NOW + i * STEP).isoformat().replace("+00:00", "Z"),
                "duration": 30,
                "value": value,
            }
            for i, value in enumerate(values)
        ]
        answer.append(
            {
                "generatedAt": "2024-05-31T23:55:00Z",
                "requestedAt": "2024-06-01T00:00:00Z",
                "location": location,
                "dataStartAt": data[0]["timestamp"],
                "dataEndAt": data[-1]["timestamp"],
                "windowSize": 30,
                "optimalDataPoints": [min(data, key=lambda d: d["value"])],
                "forecastData": data,
            }
        )
    return answer


def sdk_best(names):
    """/emissions/bylocations/best: the lowest SERIES point over the SDK names asked for,
    as the WebAPI serializes EmissionsData (``duration`` a TimeSpan)."""
    regions = {sdk: region for region, sdk in SDK_NAMES.items()}
    value, i, name = min(
        (value, i, name) for name in names for i, value in enumerate(SERIES[regions[name]])
    )
    time = (NOW - 8 * STEP + i * STEP).isoformat().replace("+00:00", "Z")
    return [{"location": name, "time": time, "rating": value, "duration": "00:30:00"}]


def brute_force_best(job_steps, window_steps):
    """(mean, start index, location) minimising the mean over job_steps half-hours."""
    best = None
    for location, values in SERIES.items():
        for start in range(window_steps - job_steps + 1):
            mean = sum(values[start : start + job_steps]) / job_steps
            if best is None or mean < best[0]:
                best = (mean, start, location)
    return best


class FakeSdk(FakeJsonApi):
    mode = "ok"
    queries = []

    def answer(self, path, query):
        status = 200
        body = b"[{not json" if FakeSdk.mode == "malformed" else json.dumps(sdk_forecasts())
        if FakeSdk.mode == "wrong-shape":
            body = json.dumps({"forecastData": "none"})
        if FakeSdk.mode == "no-forecast" and path == "/emissions/forecasts/current":
            status, body = 501, json.dumps({"title": "NotImplemented", "status": 501})
        if path == "/emissions/bylocations/best":
            body = json.dumps(sdk_best(query["location"]))
        return status, body


@pytest.fixture
def sdk_server():
    FakeSdk.mode, FakeSdk.queries = "ok", []
    with local_http_server(FakeSdk) as url:
        yield url


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    name = default_pipeline()
    out = tmp_path_factory.mktemp("carbon") / f"{name}.yaml"
    return str(compile_to_file(ALL_PIPELINES[name], out))


def dry_run(capsys, package, *argv):
    return cli(
        capsys,
        "--package",
        package,
        "--param",
        "data_uri=gs://bucket/credit.csv",
        "--carbon-aware",
        "--now",
        "2024-06-01T00:00:00Z",
        "--dry-run",
        *argv,
    )


def vertex(*argv):
    return ("--vertex", "--project", "p", "--pipeline-root", "gs://bucket/root", *argv)


# --- forecast files ---------------------------------------------------------------------


def test_csv_and_json_files_read_the_same_points(tmp_path):
    points = read_forecast_file(EXAMPLE)
    assert len(points) == 96 and {p.location for p in points} == {
        "europe-west4",
        "europe-west1",
        "europe-west3",
        "europe-north1",
    }
    assert all(p.time.tzinfo is not None for p in points)
    records = [
        {"time": p.time.isoformat(), "location": p.location, "g_co2eq_per_kwh": p.g_co2eq_per_kwh}
        for p in points
    ]
    (tmp_path / "f.json").write_text(json.dumps(records))
    assert read_forecast_file(tmp_path / "f.json") == points
    only = FileProvider(EXAMPLE).forecast(["europe-north1"], NOW, NOW + timedelta(hours=8))
    assert {p.location for p in only} == {"europe-north1"} and len(only) == 24


@pytest.mark.parametrize(
    "text, message",
    [
        ("when,location,g_co2eq_per_kwh\n", "needs the columns time,location,g_co2eq_per_kwh"),
        ("time,location,g_co2eq_per_kwh\n2024-06-01T00:00:00,a,1\n", "row 2: time"),
        ("time,location,g_co2eq_per_kwh\n2024-06-01T00:00:00Z,a,x\n", "row 2"),
        ("time,location,g_co2eq_per_kwh\n2024-06-01T00:00:00Z,,1\n", "missing location"),
        ("time,location,g_co2eq_per_kwh\n", "holds no points"),
    ],
)
def test_malformed_forecast_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(ForecastError, match=re.escape(message)):
        read_forecast_file(path)


def test_parse_duration():
    assert parse_duration("8h") == timedelta(hours=8)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5") == timedelta(hours=1.5)
    with pytest.raises(ForecastError, match="not like 8h"):
        parse_duration("soon")


# --- the chooser ------------------------------------------------------------------------


def points_of(series):
    return [
        ForecastPoint(NOW + i * STEP, location, float(value))
        for location, values in series.items()
        for i, value in enumerate(values)
    ]


@pytest.mark.parametrize("job_steps, window_steps", [(1, 16), (2, 16), (2, 8), (4, 16), (3, 5)])
def test_chooser_picks_the_forecast_minimum(job_steps, window_steps):
    choice = choose(
        points_of(SERIES),
        list(SERIES),
        NOW,
        window_steps * STEP,
        job_steps * STEP,
    )
    mean, start, location = brute_force_best(job_steps, window_steps)
    now_mean = sum(SERIES["europe-west4"][:job_steps]) / job_steps
    assert (choice.location, choice.start_time) == (location, NOW + start * STEP)
    assert choice.g_co2eq_per_kwh == pytest.approx(mean)
    assert choice.now_g_co2eq_per_kwh == pytest.approx(now_mean)
    assert choice.saving_fraction == pytest.approx(1 - mean / now_mean)
    assert not choice.fallback


def test_chooser_weights_a_start_between_points_by_time():
    series = {"a": [100, 200, 300, 400]}
    choice = choose(points_of(series), ["a"], NOW + STEP / 2, 2 * STEP, STEP)
    assert choice.now_g_co2eq_per_kwh == pytest.approx(150)
    assert choice.start_time == NOW + STEP / 2 and choice.saving_fraction == 0


# --- the command against a fake Carbon Aware SDK ----------------------------------------


def last_json(out):
    lines = out.strip().splitlines()
    return json.loads(lines[-1])


def test_sdk_choice_is_the_minimum_and_the_saving_is_right(sdk_server, package, capsys):
    status, out, err = dry_run(
        capsys,
        package,
        *vertex("--carbon-aware-url", sdk_server, "--within", "8h", "--job-hours", "1"),
        "--regions",
        "europe-west4,europe-north1",
    )
    assert status == 0, err
    assert err == ""
    summary = last_json(out)
    mean, start, location = brute_force_best(2, 16)
    now_mean = sum(SERIES["europe-west4"][:2]) / 2
    assert summary["location"] == location == "europe-north1"
    assert summary["start_time"] == (NOW + start * STEP).isoformat().replace("+00:00", "Z")
    assert summary["g_co2eq_per_kwh"] == pytest.approx(mean)
    assert summary["now_g_co2eq_per_kwh"] == pytest.approx(now_mean)
    assert summary["saving_fraction"] == pytest.approx(1 - mean / now_mean, abs=1e-4)
    assert summary["fallback"] is False and summary["basis"] == "forecast"
    printed = re.search(r"expected saving (\d+\.\d)%", out).group(1)
    assert float(printed) == pytest.approx(100 * (1 - mean / now_mean), abs=0.05)
    assert f"region {location}" in out and f"locations/{location}/" in out
    [(path, query)] = FakeSdk.queries
    assert path == "/emissions/forecasts/current"
    assert query["location"] == ["westeurope", "swedencentral"]  # the SDK's names
    assert query["dataStartAt"] == ["2024-06-01T00:00:00Z"]
    assert query["dataEndAt"] == ["2024-06-01T08:00:00Z"]


def test_kfp_keeps_its_location_and_shifts_in_time(sdk_server, package, capsys):
    status, out, err = dry_run(
        capsys, package, "--carbon-aware-url", sdk_server, "--regions", "europe-west4"
    )
    assert status == 0, err
    summary = last_json(out)
    assert summary["location"] == "europe-west4"
    assert summary["start_time"] == "2024-06-01T04:00:00Z"  # 220 then 225: the lowest hour


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("down", "unreachable"),
        ("slow", "did not answer within 0.3 s"),
        ("malformed", "malformed JSON"),
        ("wrong-shape", "not a list"),
    ],
)
def test_provider_failure_falls_back_to_now_with_one_warning(
    sdk_server, package, capsys, mode, reason
):
    FakeSdk.mode = mode
    url = closed_port_url() if mode == "down" else sdk_server
    status, out, err = dry_run(
        capsys,
        package,
        *vertex("--carbon-aware-url", url, "--provider-timeout", "0.3"),
        "--regions",
        "europe-west4,europe-north1",
    )
    assert status == 0
    warnings = err.strip().splitlines()
    assert len(warnings) == 1 and "warning" in warnings[0] and reason in warnings[0]
    assert "running now in europe-west4" in warnings[0]
    summary = last_json(out)
    assert summary["fallback"] is True and reason in summary["reason"]
    assert summary["basis"] == "none"
    assert summary["location"] == "europe-west4" and summary["saving_fraction"] == 0
    assert summary["start_time"] == "2024-06-01T00:00:00Z"
    assert "locations/europe-west4/" in out


def test_no_forecast_chooses_the_region_from_history(sdk_server, package, capsys):
    FakeSdk.mode = "no-forecast"
    status, out, err = dry_run(
        capsys,
        package,
        *vertex("--carbon-aware-url", sdk_server, "--within", "4h"),
        "--regions",
        "europe-west4,europe-north1",
    )
    assert status == 0, err
    assert err == ""
    summary = last_json(out)
    best, default = min(SERIES["europe-north1"]), min(SERIES["europe-west4"])
    assert summary["basis"] == "history" and summary["fallback"] is False
    assert (summary["location"], summary["start_time"]) == ("europe-north1", "2024-06-01T00:00:00Z")
    assert summary["g_co2eq_per_kwh"] == best and summary["now_g_co2eq_per_kwh"] == default
    assert summary["saving_fraction"] == pytest.approx(1 - best / default, abs=1e-4)
    assert "HTTP 501" in summary["reason"] and "from history" in out
    [forecast, *best_queries] = FakeSdk.queries
    assert forecast[0] == "/emissions/forecasts/current"
    assert [(path, query["location"]) for path, query in best_queries] == [
        ("/emissions/bylocations/best", ["westeurope", "swedencentral"]),
        ("/emissions/bylocations/best", ["westeurope"]),
    ]
    for _, query in best_queries:
        assert query["time"] == ["2024-05-31T20:00:00Z"]
        assert query["toTime"] == ["2024-06-01T00:00:00Z"]


def test_a_vertex_region_the_sdk_has_no_name_for_is_a_clear_error(package, capsys):
    status, out, err = dry_run(
        capsys,
        package,
        *vertex("--carbon-aware-url", closed_port_url()),
        "--regions",
        "europe-west4,mars-north1",
    )
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert "no carbon-aware-sdk location is known for the Vertex region 'mars-north1'" in err
    assert "GREENKFP_LOCATION_MAP=mars-north1=<location>" in err


# --- clear errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (("--within", "30m", "--job-hours", "1"), "the window (0.5 h) is shorter than the job"),
        (
            ("--regions", "europe-west4,mars-north1", "--vertex", "--project", "p"),
            "no forecast for region(s) mars-north1",
        ),
        (("--now", "2025-01-01T00:00:00Z"), "the forecast is entirely in the past"),
        (("--regions", "europe-west4,europe-north1"), "a KFP run stays where its cluster is"),
        (("--regions", "europe-west4", "--now", "2024-06-01T00:00:00"), "--now: time"),
    ],
)
def test_clear_errors_exit_2_with_one_line(package, capsys, options, message):
    status, out, err = dry_run(capsys, package, "--forecast", str(EXAMPLE), *options)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err


def test_carbon_options_need_carbon_aware(package, capsys):
    status, _, err = cli(capsys, "--package", package, "--forecast", str(EXAMPLE), "--dry-run")
    assert status == 2 and "--forecast need(s) --carbon-aware" in err


def test_example_file_dry_run(package, capsys):
    status, out, err = dry_run(
        capsys, package, "--forecast", str(EXAMPLE), "--regions", "europe-west4"
    )
    assert status == 0 and err == ""
    summary = last_json(out)
    # The synthetic curve's trough is 07:00 UTC, inside the 8 h window from midnight.
    assert summary["start_time"] == "2024-06-01T07:00:00Z"
    assert summary["g_co2eq_per_kwh"] == pytest.approx(208.81 * 0.8, abs=0.01)


def test_wait_until_sleeps_to_the_start(capsys):
    choice = choose(points_of(SERIES), ["europe-west4"], NOW, 8 * STEP, STEP)
    clock = [NOW]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    wait_until(choice, clock=lambda: clock[0], sleep=sleep)
    assert clock[0] == choice.start_time == NOW + 7 * STEP
    assert sum(slept) == 7 * 30 * 60 and max(slept) <= 60
    assert "Waiting 3 h 30 min until 2024-06-01T03:30:00Z" in capsys.readouterr().out


class FakeElectricityMaps(FakeJsonApi):
    seen = []
    queries = []

    def answer(self, path, query):
        zone = query["zone"][0]
        FakeElectricityMaps.seen.append((path, zone, self.headers.get("auth-token")))
        region = {z: r for r, z in EM_ZONES.items()}[zone]
        forecast = [
            {"datetime": (NOW + i * STEP).isoformat().replace("+00:00", "Z"), "carbonIntensity": v}
            for i, v in enumerate(SERIES[region])
        ]
        return 200, json.dumps(
            {"zone": zone, "forecast": forecast, "updatedAt": "2024-06-01T00:00Z"}
        )


def test_electricitymaps_sends_the_token_header_and_reads_the_forecast(
    package, capsys, monkeypatch
):
    FakeElectricityMaps.seen = []
    with local_http_server(FakeElectricityMaps) as url:
        monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "secret-token")
        monkeypatch.setenv("GREENKFP_ELECTRICITYMAPS_URL", url)
        status, out, err = dry_run(
            capsys,
            package,
            *vertex("--electricitymaps", "--regions", "europe-west4,europe-north1"),
        )
    assert status == 0, err
    assert FakeElectricityMaps.seen == [
        ("/v3/carbon-intensity/forecast", EM_ZONES[region], "secret-token") for region in SERIES
    ]
    mean, start, location = brute_force_best(2, 16)
    summary = last_json(out)
    assert (summary["location"], summary["g_co2eq_per_kwh"]) == (location, pytest.approx(mean))
    assert "secret-token" not in out + err


def test_electricitymaps_without_a_token_is_a_clear_error(package, capsys, monkeypatch):
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    status, _, err = dry_run(capsys, package, "--electricitymaps", "--regions", "europe-west4")
    assert status == 2 and "--electricitymaps needs $ELECTRICITYMAPS_TOKEN" in err
