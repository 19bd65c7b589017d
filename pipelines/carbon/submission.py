"""``greenkfp submit --carbon-aware``: options, the provider they name, the plan, the wait.

The plan is a :class:`~greenkfp.pipelines.carbon.chooser.Choice`. A remote provider that
is down, slow, or answers malformed data gives a fallback plan (run now in the default
location) with one warning line; a Carbon Aware SDK whose data source does not forecast
(HTTP 501) gives a plan from history (``/emissions/bylocations/best``); a bad forecast
file or request raises
:class:`~greenkfp.components._shared.grid_forecast.ForecastError` (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from greenkfp.components._shared.grid_forecast import (
    CarbonIntensityProvider,
    FileProvider,
    ForecastError,
    ProviderUnavailable,
    format_time,
    parse_time,
)
from greenkfp.components._shared.grid_providers import (
    CARBON_AWARE_URL_ENV,
    DEFAULT_TIMEOUT_S,
    ELECTRICITYMAPS_TOKEN_ENV,
    ELECTRICITYMAPS_URL,
    ELECTRICITYMAPS_URL_ENV,
    CarbonAwareSdkProvider,
    ElectricityMapsProvider,
    ForecastUnsupported,
)
from greenkfp.pipelines.carbon.chooser import (
    Choice,
    choose,
    choose_from_history,
    fallback_choice,
    parse_duration,
)


def add_arguments(cmd: argparse.ArgumentParser) -> None:
    """Adds the ``--carbon-aware`` option group to ``greenkfp submit``."""
    group = cmd.add_argument_group(
        "carbon-aware",
        "pick the region and start time with the lowest forecast grid carbon intensity",
    )
    group.add_argument("--carbon-aware", action="store_true", help="choose where and when to run")
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--forecast", default=None, help="forecast file: CSV time,location,g_co2eq_per_kwh or JSON"
    )
    source.add_argument(
        "--carbon-aware-url",
        default=None,
        help=f"Carbon Aware SDK WebAPI root (default: ${CARBON_AWARE_URL_ENV})",
    )
    source.add_argument(
        "--electricitymaps",
        action="store_true",
        help=f"Electricity Maps forecast (token: ${ELECTRICITYMAPS_TOKEN_ENV}; "
        f"API root: ${ELECTRICITYMAPS_URL_ENV} or {ELECTRICITYMAPS_URL})",
    )
    group.add_argument("--within", default="8h", help="the job must finish within (default 8h)")
    group.add_argument("--job-hours", type=float, default=1.0, help="job length estimate (1)")
    group.add_argument(
        "--regions",
        default=None,
        help="allowed locations, comma-separated: Vertex regions (mapped to the Carbon Aware SDK's "
        "and Electricity Maps' names) or the provider's own names; the first "
        "(or --region) is where 'run now' runs. Vertex: any of them; KFP: exactly one",
    )
    group.add_argument(
        "--provider-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for a remote provider (default {DEFAULT_TIMEOUT_S:g})",
    )
    group.add_argument(
        "--now", default=None, help="with --dry-run: take this ISO 8601 time as now (examples)"
    )


def _provider(args: argparse.Namespace) -> CarbonIntensityProvider:
    if args.forecast:
        return FileProvider(args.forecast)
    if args.electricitymaps:
        token = os.environ.get(ELECTRICITYMAPS_TOKEN_ENV)
        if not token:
            raise ForecastError(f"--electricitymaps needs ${ELECTRICITYMAPS_TOKEN_ENV}")
        url = os.environ.get(ELECTRICITYMAPS_URL_ENV) or ELECTRICITYMAPS_URL
        return ElectricityMapsProvider(token, url, args.provider_timeout)
    url = args.carbon_aware_url or os.environ.get(CARBON_AWARE_URL_ENV)
    if not url:
        raise ForecastError(
            f"--carbon-aware needs --forecast FILE, --carbon-aware-url URL "
            f"(or ${CARBON_AWARE_URL_ENV}), or --electricitymaps"
        )
    return CarbonAwareSdkProvider(url, args.provider_timeout)


def _locations(args: argparse.Namespace, provider: CarbonIntensityProvider) -> list[str]:
    regions = [r.strip() for r in (args.regions or "").split(",") if r.strip()]
    if args.region:
        regions = [args.region] + [r for r in regions if r != args.region]
    if not args.vertex and len(regions) > 1:
        raise ForecastError(
            "a KFP run stays where its cluster is: give one location in --regions "
            "(several regions need --vertex)"
        )
    if not regions and isinstance(provider, FileProvider):
        regions = list(dict.fromkeys(p.location for p in provider.points))
        if not args.vertex:
            regions = regions[:1]
    if not regions:
        raise ForecastError("--carbon-aware needs --regions (the locations to compare)")
    return regions


def plan(args: argparse.Namespace, now: Optional[datetime] = None) -> Choice:
    """The choice for ``args``; a fallback choice when a remote provider fails.

    Raises:
        ForecastError: Bad options, a bad forecast file, or a forecast that cannot answer
            (window shorter than the job, unknown region, forecast in the past).
    """
    if args.now and not args.dry_run:
        raise ForecastError("--now only applies with --dry-run")
    if now is None:
        try:
            now = parse_time(args.now) if args.now else datetime.now(timezone.utc)
        except ValueError as err:
            raise ForecastError(f"--now: {err}") from err
    if args.job_hours <= 0:
        raise ForecastError("--job-hours must be more than 0")
    within = parse_duration(args.within)
    job = parse_duration(str(args.job_hours))
    provider = _provider(args)
    locations = _locations(args, provider)
    try:
        points = provider.forecast(locations, now, now + within)
    except ForecastUnsupported as err:
        if isinstance(provider, CarbonAwareSdkProvider):
            try:
                return choose_from_history(provider, locations, now, within, str(err))
            except ProviderUnavailable as history_err:
                err = history_err
        choice = fallback_choice(locations[0], now, str(err))
        print(f"greenkfp submit: warning: {err}; running now in {locations[0]}", file=sys.stderr)
        return choice
    except ProviderUnavailable as err:
        choice = fallback_choice(locations[0], now, str(err))
        print(f"greenkfp submit: warning: {err}; running now in {locations[0]}", file=sys.stderr)
        return choice
    return choose(points, locations, now, within, job)


def describe(choice: Choice) -> list[str]:
    """Human lines for a choice (the JSON line is :func:`json_line`)."""
    if choice.fallback:
        return [f"Carbon-aware: no forecast ({choice.reason}); run now in {choice.location}."]
    if choice.basis == "history":
        return [
            f"Carbon-aware: no forecast ({choice.reason}); from history: run now in "
            f"{choice.location}, cleanest observed {choice.g_co2eq_per_kwh:.1f} g CO2eq/kWh",
            f"  against {choice.now_g_co2eq_per_kwh:.1f} in {choice.default_location}; "
            f"expected saving {choice.saving_fraction:.1%}",
        ]
    lines = [
        f"Carbon-aware: start {format_time(choice.start_time)} in {choice.location}: "
        f"{choice.g_co2eq_per_kwh:.1f} g CO2eq/kWh over the job",
        f"  run now in {choice.default_location}: {choice.now_g_co2eq_per_kwh:.1f} g CO2eq/kWh; "
        f"expected saving {choice.saving_fraction:.1%}",
    ]
    return lines


def json_line(choice: Choice) -> str:
    """The one JSON line ``submit --carbon-aware`` ends its output with."""
    return json.dumps(choice.summary(), sort_keys=False)


def wait_until(
    choice: Choice,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    sleep: Callable[[float], Any] = time.sleep,
) -> None:
    """Sleeps until the chosen start, printing the wait first (nothing when it is now)."""
    seconds = (choice.start_time - clock()).total_seconds()
    if seconds <= 0:
        return
    hours, rest = divmod(int(seconds), 3600)
    print(
        f"Waiting {hours} h {rest // 60:02d} min until {format_time(choice.start_time)} "
        "(Ctrl-C cancels; nothing was sent yet)",
        flush=True,
    )
    while (left := (choice.start_time - clock()).total_seconds()) > 0:
        sleep(min(left, 60.0))
