"""Energy and carbon metering for every component, on top of codecarbon.

:func:`energy_meter` wraps a block of work in a codecarbon tracker and yields an
:class:`EnergyReading` that is filled when the block exits (also when it raises)::

    with energy_meter("/tmp/outputs") as reading:
        train()
    metrics.log_metric("energy_kwh", reading.energy_kwh)

codecarbon is imported only inside :func:`energy_meter`, so importing this module (and
``greenkfp.components``) stays light. By default the meter runs codecarbon's
``OfflineEmissionsTracker``, which never touches the network: the carbon intensity comes
from codecarbon's bundled per-country data for the country resolved by
:func:`resolve_country`.

Attribution. codecarbon meters the whole node; the reading's energy is the process's
share of it, with a low/high bound from the method, and the node's figure beside it
(:mod:`energy_attribution` has the formulas; ``GREENKFP_CPU_TDP_W`` and
``GREENKFP_MEMORY_SHARE`` set what an estimate cannot know).

Files. Everything codecarbon writes goes under ``<output_dir>/codecarbon/``:
``emissions.csv`` (one row per metered block, appended), ``boamps_report_<run id>.json``
(codecarbon's BoAmps report of the block, node figures; without task context, which
codecarbon cannot know, it lacks BoAmps's task fields), ``codecarbon.log`` (its logger,
INFO and above) and ``.energy.lock``. Nothing is written to the working directory.

Concurrency. codecarbon 3.3.2 guards against concurrent trackers with one global lock
file, ``<tempdir>/.codecarbon.lock`` (``codecarbon/lock.py``, line 17), whose path is a
module constant computed at import time; a tracker that finds it does not measure at all
(``emissions_tracker.py``, ``_configure_multiple_runs``), and taking it also replaces the
process's SIGINT/SIGTERM handlers. The meter therefore passes
``allow_multiple_runs=True`` (no global lock is created or consulted) and takes its own
advisory lock, ``<output_dir>/codecarbon/.energy.lock`` (``fcntl.flock`` where
available), around the moment codecarbon appends to ``emissions.csv``. Meters in
different processes never block each other; meters that share an ``output_dir`` only
serialize their CSV appends, so every run keeps its own row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Iterator

from greenkfp.components._shared.energy_attribution import (
    ProcessSampler,
    attribute_reading,
    resolve_cpu_tdp,
    resolve_memory_share,
)
from greenkfp.components._shared.energy_reading import (
    BOAMPS_FILE_PREFIX,
    CODECARBON_SUBDIR,
    COUNTRY_ENV_VAR,
    DEFAULT_COUNTRY_ISO_CODE,
    EMISSIONS_FILE_NAME,
    ENERGY_METHODS,
    LOCK_FILE_NAME,
    LOG_FILE_NAME,
    EnergyReading,
    codecarbon_dir,
    resolve_country,
)

if TYPE_CHECKING:
    from codecarbon.emissions_tracker import BaseEmissionsTracker

__all__ = [
    "BOAMPS_FILE_PREFIX",
    "CODECARBON_SUBDIR",
    "COUNTRY_ENV_VAR",
    "DEFAULT_COUNTRY_ISO_CODE",
    "EMISSIONS_FILE_NAME",
    "ENERGY_METHODS",
    "LOCK_FILE_NAME",
    "LOG_FILE_NAME",
    "EnergyReading",
    "codecarbon_dir",
    "energy_meter",
    "resolve_country",
]

_GPU_METHODS = frozenset({"nvml", "amdsmi", "powermetrics"})
_CODECARBON_LOGGER = "codecarbon"


def _energy_method(hardware: list[Any]) -> str:
    """Names how codecarbon obtained the energy, from the hardware it really tracked.

    Reads the hardware objects that codecarbon 3.3.2 put in ``tracker._hardware``
    (``core/resource_tracker.py``), by class name as codecarbon's own
    ``core/hardware_cache.py`` does. CPU part:

    * ``CPU`` with ``_mode == "intel_rapl"`` (Linux powercap) or ``"windows_emi"``
      (Windows Energy Meter Interface, the same RAPL counters): ``rapl``.
    * ``CPU`` with ``_mode == "intel_power_gadget"``: ``intel_power_gadget``.
    * ``AppleSiliconChip`` (``sudo powermetrics``): ``powermetrics``.
    * ``Raspberry`` (PMIC read through ``vcgencmd``): ``raspberry_pmic``.
    * ``CPU`` with ``_mode == "cpu_load"``: ``cpu_load_estimate`` (TDP scaled by psutil
      CPU load; codecarbon's fallback when no counter is readable).
    * ``CPU`` with ``_mode == "constant"``: ``tdp_estimate`` (half the TDP found in
      codecarbon's CPU table) or ``constant_estimate`` (half a generic 85 W TDP, when
      ``_is_generic_tdp``).
    * no CPU object: ``unknown``.

    GPU part, appended after ``+``: a ``GPU`` whose devices are ``NvidiaGPUDevice`` gives
    ``nvml``, ``AMDGPUDevice`` gives ``amdsmi``; an Apple GPU gives ``powermetrics``.
    RAM is always a model estimate in codecarbon and is not named.

    Args:
        hardware: The tracker's hardware objects.

    Returns:
        E.g. ``"rapl"``, ``"rapl+nvml"`` or ``"cpu_load_estimate"``.
    """
    cpu_method = ""
    gpu_methods: list[str] = []
    for hw in hardware:
        kind = type(hw).__name__
        if kind == "CPU" and not cpu_method:
            mode = str(getattr(hw, "_mode", ""))
            if mode in ("intel_rapl", "windows_emi"):
                cpu_method = "rapl"
            elif mode == "intel_power_gadget":
                cpu_method = "intel_power_gadget"
            elif mode == "cpu_load":
                cpu_method = "cpu_load_estimate"
            elif mode == "constant":
                generic = bool(getattr(hw, "_is_generic_tdp", False))
                cpu_method = "constant_estimate" if generic else "tdp_estimate"
            else:
                cpu_method = "unknown"
        elif kind == "AppleSiliconChip":
            if getattr(hw, "chip_part", "") == "GPU":
                gpu_methods.append("powermetrics")
            elif not cpu_method:
                cpu_method = "powermetrics"
        elif kind == "Raspberry" and getattr(hw, "chip_part", "") == "CPU" and not cpu_method:
            cpu_method = "raspberry_pmic"
        elif kind == "GPU":
            devices = getattr(getattr(hw, "devices", None), "devices", None) or []
            for device in devices:
                device_kind = type(device).__name__
                if device_kind == "NvidiaGPUDevice":
                    gpu_methods.append("nvml")
                elif device_kind == "AMDGPUDevice":
                    gpu_methods.append("amdsmi")
    parts = [cpu_method or "unknown"]
    for method in gpu_methods:
        if method not in parts:
            parts.append(method)
    return "+".join(parts)


def _grid_intensity_g_per_kwh(tracker: BaseEmissionsTracker) -> float:
    """Carbon intensity codecarbon applies to this tracker's place, by pricing 1 kWh."""
    try:
        from codecarbon.core.units import Energy

        tracker._ensure_geo_metadata()
        tracker._ensure_emissions_engine()
        one_kwh = Energy.from_energy(kWh=1.0)
        cloud = tracker._get_cloud_metadata()
        if cloud.is_on_private_infra:
            kg = tracker._emissions.get_private_infra_emissions(one_kwh, tracker._geo)
        else:
            kg = tracker._emissions.get_cloud_emissions(one_kwh, cloud, tracker._geo)
        return float(kg) * 1000.0
    except Exception:  # best effort: documented as 0.0 when unknown
        return 0.0


@contextlib.contextmanager
def _dir_lock(path: str) -> Iterator[None]:
    """Holds an exclusive advisory lock on ``path`` (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: codecarbon's CSV appends are not serialized there.
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _quiet_console_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(logging.ERROR)


def _fill(
    reading: EnergyReading,
    tracker: BaseEmissionsTracker,
    *,
    country: str,
    region: str,
    wall_s: float,
) -> None:
    """Copies codecarbon's final figures into ``reading``."""
    data = getattr(tracker, "final_emissions_data", None)
    conf = getattr(tracker, "_conf", None) or {}
    reading.cpu_model = str(conf.get("cpu_model") or "")
    reading.gpu_model = str(conf.get("gpu_model") or "")
    if data is None:
        # codecarbon swallows its own errors (start/stop are wrapped in suppress): say so.
        reading.duration_s = float(wall_s)
        reading.country_iso_code = country
        reading.region = region
        reading.energy_method = "unavailable"
        return
    reading.duration_s = float(data.duration)
    reading.energy_kwh = float(data.energy_consumed)
    reading.cpu_energy_kwh = float(data.cpu_energy)
    reading.gpu_energy_kwh = float(data.gpu_energy)
    reading.ram_energy_kwh = float(data.ram_energy)
    reading.emissions_kg_co2eq = float(data.emissions)
    reading.country_iso_code = str(data.country_iso_code or country)
    reading.region = str(data.region or "")
    reading.energy_method = _energy_method(list(getattr(tracker, "_hardware", []) or []))
    reading.cpu_model = str(data.cpu_model or reading.cpu_model)
    reading.gpu_model = str(data.gpu_model or reading.gpu_model)
    if reading.energy_kwh > 0:
        reading.carbon_intensity_g_per_kwh = reading.emissions_kg_co2eq / reading.energy_kwh * 1e3
    else:
        reading.carbon_intensity_g_per_kwh = _grid_intensity_g_per_kwh(tracker)


@contextlib.contextmanager
def energy_meter(
    output_dir: str,
    *,
    country_iso_code: str | None = None,
    region: str | None = None,
    online: bool = False,
    project_name: str = "greenkfp",
    measure_power_secs: float = 5.0,
    cpu_tdp_w: float | None = None,
    memory_share: float | None = None,
) -> Iterator[EnergyReading]:
    """Meters the energy and emissions of the enclosed block with codecarbon.

    By default the block runs under codecarbon's ``OfflineEmissionsTracker`` for the
    country given by :func:`resolve_country` (argument, then ``GREENKFP_COUNTRY``, then
    ``DEFAULT_COUNTRY_ISO_CODE = "USA"``); it makes no network call. ``online=True``
    uses codecarbon's ``EmissionsTracker`` instead, which geolocates the machine and
    detects the cloud over the network (the country argument is then not used).

    codecarbon measures where the platform lets it and estimates otherwise; the reading's
    ``energy_method`` says which, from the hardware objects codecarbon really used:
    ``rapl`` (Intel/AMD RAPL counters), ``intel_power_gadget``, ``powermetrics``,
    ``raspberry_pmic``, ``cpu_load_estimate`` (TDP scaled by CPU load),
    ``tdp_estimate`` (constant share of the CPU's TDP), ``constant_estimate`` (constant
    share of a generic 85 W TDP), ``unknown``; followed by ``+nvml`` (NVIDIA GPUs read
    through NVML), ``+amdsmi`` or ``+powermetrics`` when GPUs were metered. RAM energy is
    always a model estimate. ``unavailable`` means codecarbon failed (it logs and
    swallows its own errors): the reading then holds only the duration, and a
    ``RuntimeWarning`` is issued. In a VM without ``/sys/class/powercap`` expect
    ``cpu_load_estimate``.

    codecarbon meters the node; the reading holds the process's share (``energy_kwh``
    and its parts), its bound (``energy_kwh_low``, ``energy_kwh_high``) and the node's
    figure (``node_energy_kwh``), see :mod:`energy_attribution`.

    The carbon intensity is codecarbon's node emissions / node energy when that energy is
    positive, else the intensity codecarbon applies to the country (region), else 0; the
    emissions are the process's energy times that intensity.

    codecarbon's console output is limited to errors; its log (INFO and above) goes to
    ``<output_dir>/codecarbon/codecarbon.log`` and its rows to
    ``<output_dir>/codecarbon/emissions.csv``. See the module docstring about locks.
    Sampling runs in codecarbon's background threads every ``measure_power_secs`` (and
    every second for load sampling), which costs the metered work well under 1%.

    Args:
        output_dir: Local folder for codecarbon's files; created if missing.
        country_iso_code: ISO 3166-1 alpha-3 code of the grid's country, or None.
        region: Region within the country (a US state or Canadian province, e.g.
            ``"california"``) for finer intensity data, or None.
        online: Use codecarbon's online tracker (network) instead of the offline one.
        project_name: Project name written in ``emissions.csv``.
        measure_power_secs: Seconds between power measurements.
        cpu_tdp_w: The node's CPU TDP in watts for estimates, or None: then
            ``GREENKFP_CPU_TDP_W``, else codecarbon's.
        memory_share: The share of the node's memory to charge, or None: then
            ``GREENKFP_MEMORY_SHARE``, else the process tree's mean RSS / node memory.

    Yields:
        An :class:`EnergyReading`, filled when the block exits, also when it raises (the
        exception then propagates).

    Raises:
        ValueError: Bad country code, bad ``measure_power_secs``, a TDP or memory share
            out of range, or a non-local ``output_dir``, before anything is measured.
        ImportError: codecarbon is not installed.
    """
    if "://" in output_dir:
        raise ValueError(f"output_dir={output_dir!r} must be a local folder, not a URI")
    if not measure_power_secs > 0:
        raise ValueError(f"measure_power_secs={measure_power_secs!r} must be positive")
    country = resolve_country(country_iso_code)
    tdp = resolve_cpu_tdp(cpu_tdp_w)
    share = resolve_memory_share(memory_share)
    region_value = (region or "").strip()

    cc_dir = codecarbon_dir(os.path.abspath(output_dir))
    os.makedirs(cc_dir, exist_ok=True)

    from codecarbon import EmissionsTracker, OfflineEmissionsTracker
    from codecarbon.output_methods.base_output import OutputMethod

    cc_logger = logging.getLogger(_CODECARBON_LOGGER)
    saved_level = cc_logger.level
    file_handler = logging.FileHandler(os.path.join(cc_dir, LOG_FILE_NAME), encoding="utf-8")
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(
        logging.Formatter("[%(name)s %(levelname)s @ %(asctime)s] %(message)s")
    )
    cc_logger.addHandler(file_handler)
    cc_logger.setLevel(logging.INFO)
    _quiet_console_handlers(cc_logger)

    reading = EnergyReading()
    try:
        common: dict[str, Any] = {
            "project_name": project_name,
            "measure_power_secs": float(measure_power_secs),
            "output_dir": cc_dir,
            "output_file": EMISSIONS_FILE_NAME,
            "output_methods": [OutputMethod.CSV, OutputMethod.BOAMPS],
            "on_csv_write": "append",
            # Never codecarbon's global lock in <tempdir>: see the module docstring.
            "allow_multiple_runs": True,
            # Write once at stop, no periodic output work while the block runs.
            "api_call_interval": -1,
            # Console: errors only. The level is raised back to INFO (for the log file)
            # once codecarbon has rebuilt its console handler in __init__.
            "log_level": "error",
        }
        if online:
            tracker = EmissionsTracker(**common)
        else:
            tracker = OfflineEmissionsTracker(
                country_iso_code=country,
                region=region_value.lower() or None,
                # Offline means offline: no cloud table lookup from a stray config, and
                # no Electricity Maps call even if a token sits in the environment.
                cloud_provider=None,
                cloud_region=None,
                electricitymaps_api_token="",
                emissions_endpoint=None,
                **common,
            )
        cc_logger.setLevel(logging.INFO)
        _quiet_console_handlers(cc_logger)

        sampler = ProcessSampler()
        tracker.start()
        sampler.start()
        started = time.perf_counter()
        try:
            yield reading
        finally:
            wall_s = time.perf_counter() - started
            usage = sampler.stop()
            with _dir_lock(os.path.join(cc_dir, LOCK_FILE_NAME)), warnings.catch_warnings():
                # BoAmps without task context: said once in the module docstring.
                warnings.filterwarnings("ignore", message="No BoAmps task context")
                tracker.stop()
            _fill(reading, tracker, country=country, region=region_value, wall_s=wall_s)
            hardware = list(getattr(tracker, "_hardware", []) or [])
            attribute_reading(reading, hardware, usage, tdp_w=tdp, memory_share=share)
            if reading.energy_method == "unavailable":
                warnings.warn(
                    f"codecarbon produced no reading; see {os.path.join(cc_dir, LOG_FILE_NAME)}",
                    RuntimeWarning,
                    stacklevel=3,
                )
    finally:
        cc_logger.removeHandler(file_handler)
        file_handler.close()
        cc_logger.setLevel(saved_level)
        for handler in cc_logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.setLevel(logging.NOTSET)
