"""A step's own share of the node's energy, and the low/high bound that its method allows.

codecarbon (3.3.2, ``tracking_mode="machine"``, what the meter runs) prices the whole node:
CPU power from RAPL counters or from the TDP and the node's CPU load, RAM power from a
per-DIMM heuristic for all the node's memory (5 W a DIMM, at least two). Its
``tracking_mode="process"`` does not fix the RAM part: it feeds the process's RSS to the
same DIMM heuristic, whose floor of two DIMMs (10 W) is more than a process of a few GB
would ever get from its share; and with RAPL its CPU part stays the whole package. So the
meter keeps codecarbon in machine mode (the node figure) and attributes here:

* CPU: ``E_cpu = E_cpu,node * c / b``, with ``c`` the CPU seconds (user + system) of the
  process and its children over the block and ``b`` the node's busy CPU seconds over the
  same time (``psutil.cpu_times``: all but idle and iowait): the node's CPU energy split
  by CPU time, as Kepler splits a node's energy between pods. One formula for counters
  and estimates, so a step never gets more than the node. (codecarbon's process mode
  prices ``c`` at the TDP's per-thread share instead, a linear model that its machine
  mode's cubic load model does not match: at half load the process would get more than
  the whole node.) ``GREENKFP_CPU_TDP_W`` rescales codecarbon's estimated node CPU energy
  to that TDP first (its estimates are proportional to the TDP); counters ignore it.
* RAM: ``E_ram = E_ram,node * m`` with ``m`` the process tree's mean RSS over the block
  divided by the node's memory (sampled every half second), or the share given in
  ``GREENKFP_MEMORY_SHARE`` (e.g. the pod's memory request / the node's memory).
* GPU: NVML's figure for the GPUs the process sees, unchanged (a step's GPUs are its own).

Bounds, per part, as factors of the part's value; the energy's bound is the sum of the
parts' bounds: counters read (RAPL, NVML, ...) 0.9 to 1.1; a CPU estimate on a known TDP
(codecarbon's table or ``GREENKFP_CPU_TDP_W``) 0.5 to 1.25 (a busy thread draws from half
its TDP share, a hyper-thread sibling, to above it, turbo); on codecarbon's generic TDP
(4 W a thread for a CPU it does not know, or 85 W) 0.375 to 2.5 (server CPUs draw 1.5 to
10 W a thread at full load); RAM always 0.5 to 2 (DIMMs draw 2.5 to 10 W, not 5).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any, Optional

from greenkfp.components._shared.energy_reading import EnergyReading

CPU_TDP_ENV_VAR = "GREENKFP_CPU_TDP_W"
"""The node's CPU TDP in watts (all sockets), for when codecarbon's is wrong or generic."""

MEMORY_SHARE_ENV_VAR = "GREENKFP_MEMORY_SHARE"
"""The step's share of the node's memory (0 < share <= 1), instead of its measured RSS."""

CPU_TDP_RANGE_W = (1.0, 2000.0)
"""TDPs accepted for ``GREENKFP_CPU_TDP_W``: one small core to a large two-socket node."""

MEASURED_BOUND = (0.9, 1.1)
KNOWN_TDP_BOUND = (0.5, 1.25)
GENERIC_TDP_BOUND = (0.375, 2.5)
RAM_ESTIMATE_BOUND = (0.5, 2.0)

ESTIMATED_CPU_METHODS = frozenset({"cpu_load_estimate", "tdp_estimate", "constant_estimate"})
MEASURED_CPU_METHODS = frozenset({"rapl", "intel_power_gadget", "powermetrics", "raspberry_pmic"})

TDP_FROM_USER = CPU_TDP_ENV_VAR
TDP_FROM_TABLE = "codecarbon CPU table"
TDP_GENERIC = "codecarbon generic"
TDP_NOT_USED = "not used (counters)"

_SAMPLE_EVERY_S = 0.5


def resolve_cpu_tdp(value: Optional[float] = None) -> Optional[float]:
    """The CPU TDP to price estimates with: the argument, else ``GREENKFP_CPU_TDP_W``.

    Args:
        value: TDP in watts, or None (then the environment variable, then None: codecarbon's).

    Returns:
        The TDP in watts, or None when neither gives one.

    Raises:
        ValueError: The TDP is not a number within :data:`CPU_TDP_RANGE_W`; the message
            names the value and where it came from.
    """
    found = _given_number(value, "cpu_tdp_w", CPU_TDP_ENV_VAR)
    if found is None:
        return None
    source, raw, tdp = found
    low, high = CPU_TDP_RANGE_W
    if not low <= tdp <= high:  # NaN fails too
        raise ValueError(
            f"{source}={raw!r} is out of range: a CPU TDP is {low:g} to {high:g} W "
            "(the whole node's, all sockets)"
        )
    return tdp


def resolve_memory_share(value: Optional[float] = None) -> Optional[float]:
    """The step's share of the node's memory: the argument, else ``GREENKFP_MEMORY_SHARE``.

    Raises:
        ValueError: The share is not a number in (0, 1].
    """
    found = _given_number(value, "memory_share", MEMORY_SHARE_ENV_VAR)
    if found is None:
        return None
    source, raw, share = found
    if not 0.0 < share <= 1.0:
        raise ValueError(f"{source}={raw!r} is out of range: a share of memory is in (0, 1]")
    return share


def _given_number(
    value: Optional[float], name: str, env_var: str
) -> Optional[tuple[str, object, float]]:
    """(where it came from, as given, as a number) of an argument or else its variable."""
    source, raw = name, value
    if raw is None:
        source, raw = env_var, os.environ.get(env_var, "").strip() or None
    if raw is None:
        return None
    try:
        return source, raw, float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{source}={raw!r} is not a number") from None


@dataclasses.dataclass
class ProcessUsage:
    """What the process tree used of the node over a metered block."""

    cpu_seconds: float = 0.0
    node_busy_cpu_seconds: float = 0.0
    mean_rss_bytes: float = 0.0
    node_memory_bytes: float = 0.0

    @property
    def cpu_share(self) -> float:
        """The process's share of the node's busy CPU time, in [0, 1]."""
        if self.node_busy_cpu_seconds <= 0:
            return 0.0
        return min(1.0, self.cpu_seconds / self.node_busy_cpu_seconds)

    @property
    def memory_share(self) -> float:
        """The process tree's mean RSS over the node's memory, in [0, 1]."""
        if self.node_memory_bytes <= 0:
            return 0.0
        return min(1.0, self.mean_rss_bytes / self.node_memory_bytes)


class ProcessSampler:
    """Follows the current process and its children: CPU seconds, and RSS twice a second."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._rss: list[float] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._cpu0 = 0.0
        self._busy0 = 0.0

    def _tree(self) -> list[Any]:
        try:
            return [self._process, *self._process.children(recursive=True)]
        except self._psutil.Error:
            return [self._process]

    def _cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                t = proc.cpu_times()
            except self._psutil.Error:
                continue
            total += t.user + t.system
            if proc is self._process:  # children already waited for
                total += t.children_user + t.children_system
        return total

    def _node_busy_seconds(self) -> float:
        t = self._psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def _sample_rss(self) -> None:
        rss = 0.0
        for proc in self._tree():
            try:
                rss += proc.memory_info().rss
            except self._psutil.Error:
                continue
        self._rss.append(rss)

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_EVERY_S):
            self._sample_rss()

    def start(self) -> None:
        """Takes the first readings and starts the RSS sampling thread."""
        self._cpu0, self._busy0 = self._cpu_seconds(), self._node_busy_seconds()
        self._sample_rss()
        self._thread = threading.Thread(target=self._run, name="greenkfp-rss", daemon=True)
        self._thread.start()

    def stop(self) -> ProcessUsage:
        """Stops sampling; returns the usage since :meth:`start`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample_rss()
        return ProcessUsage(
            cpu_seconds=max(0.0, self._cpu_seconds() - self._cpu0),
            node_busy_cpu_seconds=max(0.0, self._node_busy_seconds() - self._busy0),
            mean_rss_bytes=sum(self._rss) / len(self._rss),
            node_memory_bytes=float(self._psutil.virtual_memory().total),
        )


@dataclasses.dataclass
class NodeEnergy:
    """codecarbon's figures for the whole node over the block, and how it got them."""

    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    cpu_method: str
    tdp_w: float = 0.0
    tdp_generic: bool = False


@dataclasses.dataclass
class Attribution:
    """The process's energy by part, its bound, and what it rests on."""

    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    low_kwh: float
    high_kwh: float
    node_kwh: float
    cpu_share: float
    memory_share: float
    tdp_w: float
    tdp_source: str

    @property
    def energy_kwh(self) -> float:
        """CPU + GPU + RAM."""
        return self.cpu_kwh + self.gpu_kwh + self.ram_kwh


def attribute(
    node: NodeEnergy,
    usage: ProcessUsage,
    *,
    tdp_w: Optional[float] = None,
    memory_share: Optional[float] = None,
) -> Attribution:
    """Attributes the node's energy to the process (formulas in the module docstring).

    Args:
        node: codecarbon's node figures and CPU method.
        usage: The process tree's usage over the block.
        tdp_w: The user's TDP in watts, or None for codecarbon's.
        memory_share: The user's share of the node's memory, or None for the measured one.

    Returns:
        The attribution; with a user TDP and an estimate, the node's CPU energy is
        rescaled to that TDP (codecarbon's estimates are proportional to the TDP).
    """
    node_cpu, tdp, source = node.cpu_kwh, 0.0, TDP_NOT_USED
    cpu_bound = MEASURED_BOUND
    if node.cpu_method in ESTIMATED_CPU_METHODS:
        tdp = tdp_w if tdp_w is not None else node.tdp_w
        if tdp_w is not None:
            source = TDP_FROM_USER
            node_cpu = node.cpu_kwh * tdp_w / node.tdp_w if node.tdp_w > 0 else node.cpu_kwh
        else:
            source = TDP_GENERIC if node.tdp_generic else TDP_FROM_TABLE
        cpu_bound = GENERIC_TDP_BOUND if source == TDP_GENERIC else KNOWN_TDP_BOUND
    elif node.cpu_method not in MEASURED_CPU_METHODS:
        cpu_bound = GENERIC_TDP_BOUND  # "unknown": not a counter we can vouch for
    cpu = node_cpu * usage.cpu_share
    share = memory_share if memory_share is not None else usage.memory_share
    ram = node.ram_kwh * share
    gpu = node.gpu_kwh
    parts = ((cpu, cpu_bound), (gpu, MEASURED_BOUND), (ram, RAM_ESTIMATE_BOUND))
    return Attribution(
        cpu_kwh=cpu,
        gpu_kwh=gpu,
        ram_kwh=ram,
        low_kwh=sum(value * lo for value, (lo, _) in parts),
        high_kwh=sum(value * hi for value, (_, hi) in parts),
        node_kwh=node_cpu + node.gpu_kwh + node.ram_kwh,
        cpu_share=usage.cpu_share,
        memory_share=share,
        tdp_w=float(tdp),
        tdp_source=source,
    )


def _node_energy(reading: EnergyReading, hardware: list[Any]) -> NodeEnergy:
    """The node figures of codecarbon, its CPU method and the TDP it priced an estimate with.

    codecarbon flags an 85 W fallback as ``_is_generic_tdp``, but not its 4 W a thread
    for a CPU model missing from its table (``core/cpu.py``, ``DEFAULT_POWER_PER_CORE``);
    a TDP equal to that is taken as generic too.
    """
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE

    cpu = next((hw for hw in hardware if type(hw).__name__ == "CPU"), None)
    tdp = float(getattr(cpu, "_tdp", 0) or 0)
    threads = int(getattr(cpu, "_cpu_count", 0) or 0)
    generic = bool(getattr(cpu, "_is_generic_tdp", False)) or (
        threads > 0 and tdp == DEFAULT_POWER_PER_CORE * threads
    )
    return NodeEnergy(
        cpu_kwh=reading.cpu_energy_kwh,
        gpu_kwh=reading.gpu_energy_kwh,
        ram_kwh=reading.ram_energy_kwh,
        cpu_method=reading.energy_method.split("+")[0],
        tdp_w=tdp,
        tdp_generic=generic,
    )


def attribute_reading(
    reading: EnergyReading,
    hardware: list[Any],
    usage: ProcessUsage,
    *,
    tdp_w: Optional[float] = None,
    memory_share: Optional[float] = None,
) -> None:
    """Replaces a filled reading's node figures by the process's, keeping the node's total.

    Args:
        reading: Filled from codecarbon's node figures (``energy._fill``).
        hardware: codecarbon's hardware objects (``tracker._hardware``).
        usage: The process tree's usage over the block.
        tdp_w: The user's TDP, or None.
        memory_share: The user's share of the node's memory, or None.
    """
    if reading.energy_method == "unavailable":
        return
    share = attribute(
        _node_energy(reading, hardware), usage, tdp_w=tdp_w, memory_share=memory_share
    )
    reading.cpu_energy_kwh = share.cpu_kwh
    reading.gpu_energy_kwh = share.gpu_kwh
    reading.ram_energy_kwh = share.ram_kwh
    reading.energy_kwh = share.energy_kwh
    reading.energy_kwh_low = share.low_kwh
    reading.energy_kwh_high = share.high_kwh
    reading.node_energy_kwh = share.node_kwh
    reading.cpu_share = share.cpu_share
    reading.memory_share = share.memory_share
    reading.cpu_tdp_w = share.tdp_w
    reading.cpu_tdp_source = share.tdp_source
    reading.emissions_kg_co2eq = reading.energy_kwh * reading.carbon_intensity_g_per_kwh / 1e3
