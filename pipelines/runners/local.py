"""Runs a pipeline locally through ``kfp.local`` and writes ``run_summary.json``.

kfp.local prints every task's logs and outputs. Here they go to ``run.log`` in the
output folder, while the terminal gets one line per step start and end, with the step's
progress lines (``_shared/progress.py``) indented under it as the step prints them, and the
summary records each step's status, duration and artifacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import json
import os
import re
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from greenkfp.components._shared import mitigation_record
from greenkfp.components._shared.grid_intensity import run_emissions
from greenkfp.components._shared.progress import message_of
from greenkfp.components._shared.retrain_decision import retraining_figures
from greenkfp.components._shared.skipping import SKIPPED, SKIPPED_LOG_PREFIX
from greenkfp.components._shared.step_records import RUN_FIGURES_KEY, RunOutcome
from greenkfp.pipelines.runners.interrupts import Interrupted, interruptible
from greenkfp.pipelines.runners.warm import warm_tasks

SUMMARY_FILE = "run_summary.json"
LOG_FILE = "run.log"
PIPELINE_ROOT_DIR = "pipeline_root"
REPORTS_DIR = "reports"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r"Executing task '([^']+)'")
_TASK_END = re.compile(r"Task '([^']+)' finished with status (\w+)")
_ERROR_LINE = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Failed)): (.+)$")

# Runtime settings the component image sets (build/Dockerfile); local runs mimic them.
RUNTIME_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@dataclass
class StepResult:
    """One task of a local run."""

    name: str
    status: str
    duration_s: float
    display_name: str = ""
    error: str = ""
    energy_kwh: float = 0.0
    emissions_kg_co2eq: float = 0.0
    energy: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    """The contract ``run_summary.json`` holds; later pipelines extend it."""

    pipeline: str
    status: str
    output_dir: str
    steps: list[StepResult]
    started_at: str
    duration_s: float
    arguments: dict[str, Any]
    log: str
    # The step that failed, or that was running when the run was interrupted.
    failed_step: str = ""
    error: str = ""
    # SIGINT or SIGTERM when the status is "interrupted".
    interrupted_by: str = ""
    energy_kwh_total: float = 0.0
    # The sums of the steps' bounds (their `energy` dicts' `low` and `high`).
    energy_kwh_total_low: float = 0.0
    energy_kwh_total_high: float = 0.0
    emissions_kg_co2eq_total: float = 0.0
    reports: dict[str, str] = field(default_factory=dict)
    # What the gate, deploy, compression, fairness and report steps decided and measured;
    # None where the pipeline has no such step (or it did not get that far).
    approved: Optional[bool] = None
    deployed: Optional[bool] = None
    deployed_version: Optional[int] = None
    checks: Optional[list[dict[str, Any]]] = None
    size_ratio: Optional[float] = None
    latency_speedup: Optional[float] = None
    worst_fairness_gap: Optional[float] = None
    report_html: Optional[str] = None
    # The steps' emissions as run, at the annual average and at each step's best window,
    # and what priced them (components/_shared/grid_intensity.py).
    emissions_kg_as_run: Optional[float] = None
    emissions_kg_annual_average: Optional[float] = None
    emissions_kg_best_window: Optional[float] = None
    steps_priced: int = 0
    carbon_intensity_source: str = ""
    # Continuous training (retrain_decision.retraining_figures): whether, why, energy avoided.
    retrained: Optional[bool] = None
    retrain_reasons: Optional[list[str]] = None
    energy_avoided_kwh: Optional[float] = None
    # Fairness mitigation (_shared/mitigation_record.py): the method kept (or "none"), every
    # gated gap before and after with its interval, and why.
    mitigation: Optional[str] = None
    mitigation_gaps: Optional[list[dict[str, Any]]] = None
    mitigation_reason: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-ready form."""
        return asdict(self)


class _StepTracker(io.TextIOBase):
    """A stdout stand-in: copies kfp.local's output to the log and follows the steps."""

    def __init__(
        self, log: TextIO, progress: Callable[[str], None], display_names: dict[str, str]
    ) -> None:
        self.log = log
        self.progress = progress
        self.display_names = display_names
        self.total = len(display_names)
        self.steps: list[StepResult] = []
        self._current: Optional[str] = None
        self._started = 0.0
        self._last_error = ""
        self._skipped = False
        self._buffer = ""

    def write(self, text: str) -> int:
        self.log.write(text)
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._line(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self.log.flush()

    def _label(self, task: str) -> str:
        display = self.display_names.get(task, task)
        return task if display == task else f"{display} ({task})"

    def _line(self, line: str) -> None:
        if m := _TASK_START.search(line):
            self._current, self._started, self._last_error = m.group(1), time.monotonic(), ""
            self._skipped = False
            self.progress(f"[{len(self.steps) + 1}/{self.total}] {self._label(self._current)} ...")
        elif m := _TASK_END.search(line):
            status = "succeeded" if m.group(2) == "SUCCESS" else "failed"
            status = SKIPPED if status == "succeeded" and self._skipped else status
            duration = round(time.monotonic() - self._started, 2)
            error = self._last_error if status == "failed" else ""
            name = m.group(1)
            display = self.display_names.get(name, name)
            self.steps.append(StepResult(name, status, duration, display_name=display, error=error))
            mark = {"succeeded": "ok", SKIPPED: SKIPPED}.get(status) or (
                f"FAILED: {error or 'see the log'}"
            )
            self.progress(
                f"[{len(self.steps)}/{self.total}] {self._label(name)} {mark} ({duration:.1f} s)"
            )
            self._current = None
        elif self._current and (message := message_of(line)) is not None:
            self.progress(f"      {message}")
        elif self._current and SKIPPED_LOG_PREFIX in line:
            self._skipped = True
        elif self._current and (m := _ERROR_LINE.match(line)):
            self._last_error = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2).strip()}"

    def interrupt(self, signal_name: str) -> str:
        """Records the running step as interrupted; returns the run's error message."""
        if self._current is None:
            return f"interrupted by {signal_name} between steps"
        name, duration = self._current, round(time.monotonic() - self._started, 2)
        display = self.display_names.get(name, name)
        error = f"interrupted by {signal_name}"
        self.steps.append(StepResult(name, "interrupted", duration, display, error=error))
        self._current = None
        return f"{error} during step {self._label(name)}"


def _task_outputs(task_dir: Path) -> dict[str, Any]:
    """Reads a task's ``executor_output.json``: artifact URIs, metadata, parameters."""
    path = task_dir / "executor_output.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    outputs: dict[str, Any] = {}
    for name, value in data.get("artifacts", {}).items():
        artifact = (value.get("artifacts") or [{}])[0]
        outputs[name] = {"uri": artifact.get("uri", ""), "metadata": artifact.get("metadata", {})}
    for name, value in data.get("parameterValues", {}).items():
        outputs[name] = value
    return outputs


def _step_energy(outputs: dict[str, Any]) -> dict[str, Any]:
    """Gathers the energy figures a step recorded across its outputs' metadata.

    Adds ``method``, ``low`` and ``high``: the energy's method and bound under short names
    (a step that recorded no bound gets its ``energy_kwh`` for both).
    """
    from greenkfp.components._shared.energy import EnergyReading
    from greenkfp.components._shared.step_keys import ENERGY_HIGH, ENERGY_LOW

    keys = [f.name for f in dataclasses.fields(EnergyReading)]
    energy: dict[str, Any] = {}
    for value in outputs.values():
        metadata = value.get("metadata", {}) if isinstance(value, dict) else {}
        energy.update({k: metadata[k] for k in keys if k in metadata and k not in energy})
    if energy:
        kwh = float(energy.get("energy_kwh", 0.0))
        energy["method"] = str(energy.get("energy_method", ""))
        energy["low"] = float(energy.get(ENERGY_LOW, kwh))
        energy["high"] = float(energy.get(ENERGY_HIGH, kwh))
    return energy


def energy_totals(steps: list[StepResult]) -> dict[str, float]:
    """The run's energy and emissions: the steps' sums, the energy with its bound."""
    return {
        "energy_kwh_total": sum(s.energy_kwh for s in steps),
        "energy_kwh_total_low": sum(s.energy.get("low", s.energy_kwh) for s in steps),
        "energy_kwh_total_high": sum(s.energy.get("high", s.energy_kwh) for s in steps),
        "emissions_kg_co2eq_total": sum(s.emissions_kg_co2eq for s in steps),
    }


def report_outputs(pipeline: Any) -> dict[tuple[str, str], str]:
    """(task, output) -> file suffix of every HTML (``.html``) or Markdown (``.md``) output."""
    suffixes = {"system.HTML": ".html", "system.Markdown": ".md"}
    spec = pipeline.pipeline_spec
    found = {}
    for task_name, task in spec.root.dag.tasks.items():
        outputs = spec.components[task.component_ref.name].output_definitions.artifacts
        for name, output in outputs.items():
            if output.artifact_type.schema_title in suffixes:
                found[(task_name, name)] = suffixes[output.artifact_type.schema_title]
    return found


def _collect_outputs(
    run_root: Path, steps: list[StepResult], reports_dir: Path, kinds: dict[tuple[str, str], str]
) -> dict[str, str]:
    """Fills every step's outputs and energy; copies the reports to ``reports_dir``.

    KFP names an artifact file after its output (``report``, no suffix), which a browser
    shows as text; the copies carry ``.html`` or ``.md``.

    Returns:
        ``<task>.<output>`` -> the path of the report's copy.
    """
    reports = {}
    for step in steps:
        step.outputs = _task_outputs(run_root / step.name)
        step.energy = _step_energy(step.outputs)
        step.energy_kwh = float(step.energy.get("energy_kwh", 0.0))
        step.emissions_kg_co2eq = float(step.energy.get("emissions_kg_co2eq", 0.0))
        for name, value in step.outputs.items():
            uri = value.get("uri", "") if isinstance(value, dict) else ""
            suffix = kinds.get((step.name, name))
            if suffix and uri and os.path.isfile(uri):
                reports_dir.mkdir(exist_ok=True)
                copy = reports_dir / f"{step.name}.{name}{suffix}"
                shutil.copyfile(uri, copy)
                reports[f"{step.name}.{name}"] = str(copy)
    return reports


def _records(step: StepResult) -> list[dict[str, Any]]:
    """The step's output artifacts' metadata, then its output parameters as one mapping."""
    artifacts, parameters = [], {}
    for name, value in step.outputs.items():
        if isinstance(value, dict) and "metadata" in value:
            artifacts.append(value["metadata"])
        else:
            parameters[name] = value
    return [*artifacts, parameters]


def _run_report(steps: list[StepResult], reports: dict[str, str]) -> Optional[str]:
    """The copy of the HTML report whose metadata holds the run's figures, if any."""
    for step in steps:
        for name, value in step.outputs.items():
            path = reports.get(f"{step.name}.{name}", "")
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if path.endswith(".html") and RUN_FIGURES_KEY in (metadata or {}):
                return path
    return None


def pipeline_outcome(steps: list[StepResult], reports: dict[str, str]) -> dict[str, Any]:
    """Reads the decision and headline figures from the records the steps wrote.

    The steps are not named: the blessing, the deployment record and the figures are told
    by their shape (``RunOutcome.from_outputs``), and the run's report is the HTML output
    whose metadata holds the run's figures (``RUN_FIGURES_KEY``).

    Args:
        steps: The run's steps, their outputs collected.
        reports: The run's reports, as :func:`_collect_outputs` returns them.

    Returns:
        The :class:`RunSummary` fields from ``approved`` to ``report_html``, and
        ``retrained`` to ``energy_avoided_kwh``, and ``mitigation`` to
        ``mitigation_reason``, that the run's steps give.
    """
    run = RunOutcome.from_outputs(record for step in steps for record in _records(step))
    outcome = run.to_dict()
    if run.checks is not None:
        outcome["checks"] = [
            {
                "name": c.name,
                "value": c.value,
                "threshold": c.threshold,
                "passed": c.passed,
                "verdict": c.verdict,
                "metric": c.metric,
            }
            for c in run.checks
        ]
    outcome["report_html"] = _run_report(steps, reports)
    records = [record for step in steps for record in _records(step)]
    outcome.update(retraining_figures(records, sum(s.energy_kwh for s in steps)))
    outcome.update(mitigation_record.summary_fields(records))
    return {k: v for k, v in outcome.items() if v is not None}


def _carbon_figures(steps: list[StepResult]) -> dict[str, Any]:
    """The :class:`RunSummary` fields from ``emissions_kg_as_run`` on."""
    figures = run_emissions(step.energy or None for step in steps)
    fields = {f.name for f in dataclasses.fields(RunSummary)}
    return {key: value for key, value in figures.items() if key in fields}


def allow_unset_optional_artifacts() -> None:
    """Lets kfp.local 2.13 run tasks whose optional input artifacts are left unset.

    kfp.local builds the executor input from every declared input artifact and
    fails with a ``KeyError`` for an optional one that no task feeds; a cluster,
    and kfp's own executor, treat it as ``None``. Unset optional artifacts are
    dropped from the task's spec before the executor input is built.
    """
    from kfp.local import executor_input_utils
    from kfp.pipeline_spec import pipeline_spec_pb2

    original = executor_input_utils.construct_executor_input
    if getattr(original, "greenkfp_patched", False):
        return

    def construct_executor_input(component_spec, arguments, task_root, block_input_artifact):
        unset = [
            name
            for name, spec in component_spec.input_definitions.artifacts.items()
            if spec.is_optional and name not in arguments
        ]
        if unset:
            trimmed = pipeline_spec_pb2.ComponentSpec()
            trimmed.CopyFrom(component_spec)
            for name in unset:
                del trimmed.input_definitions.artifacts[name]
            component_spec = trimmed
        return original(component_spec, arguments, task_root, block_input_artifact)

    construct_executor_input.greenkfp_patched = True
    executor_input_utils.construct_executor_input = construct_executor_input


def run_locally(
    pipeline: Any,
    arguments: dict[str, Any],
    output_dir: str | os.PathLike,
    progress: Optional[Callable[[str], None]] = None,
    warm: bool = True,
) -> RunSummary:
    """Runs a pipeline with ``kfp.local.SubprocessRunner(use_venv=False)``.

    Args:
        pipeline: A ``@dsl.pipeline`` object.
        arguments: Its parameters.
        output_dir: Receives the pipeline root, ``run.log`` and ``run_summary.json``.
        progress: Called with one line per step start and end, and with each progress
            line a step prints (indented) while it runs; default prints to the standard
            output the caller had.
        warm: Fork each task from a process that has imported the runtime stack once
            (``runners/warm.py``) instead of starting a fresh interpreter per task.

    Returns:
        The summary, also written to ``output_dir/run_summary.json``.
    """
    from kfp import local

    if progress is None:
        terminal = sys.stdout

        def progress(line: str) -> None:
            print(line, file=terminal, flush=True)

    out = Path(output_dir).resolve()
    pipeline_root = out / PIPELINE_ROOT_DIR
    pipeline_root.mkdir(parents=True, exist_ok=True)
    os.environ.update(RUNTIME_ENV)
    tasks = pipeline.pipeline_spec.root.dag.tasks
    display_names = {name: task.task_info.name or name for name, task in tasks.items()}
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    allow_unset_optional_artifacts()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    before = set(pipeline_root.iterdir())
    with open(out / LOG_FILE, "w") as log:
        tracker = _StepTracker(log, progress, display_names)
        failure, interrupted = "", None
        with warnings.catch_warnings(), contextlib.redirect_stdout(tracker):
            # kfp.local warns for every task whose image name lacks "python".
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                with interruptible(), warm_tasks() if warm else contextlib.nullcontext():
                    pipeline(**arguments)
            except Exception as e:  # kfp.local raises RuntimeError for a failed task
                failure = _ANSI.sub("", str(e))
                log.write(f"\n{failure}\n")
            except Interrupted as e:
                interrupted = e
                failure = tracker.interrupt(e.signal_name)
                log.write(f"\n{failure}\n")
    run_dirs = sorted(set(pipeline_root.iterdir()) - before)
    reports = (
        _collect_outputs(run_dirs[-1], tracker.steps, out / REPORTS_DIR, report_outputs(pipeline))
        if run_dirs
        else {}
    )
    failed = next((s for s in tracker.steps if s.status not in ("succeeded", SKIPPED)), None)
    summary = RunSummary(
        pipeline=pipeline.name,
        status="interrupted" if interrupted else "failed" if failure or failed else "succeeded",
        output_dir=str(out),
        steps=tracker.steps,
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        arguments=arguments,
        log=str(out / LOG_FILE),
        failed_step=failed.name if failed else "",
        error=(failed.error if failed and failed.error and not interrupted else failure),
        interrupted_by=interrupted.signal_name if interrupted else "",
        **energy_totals(tracker.steps),
        reports=reports,
        **pipeline_outcome(tracker.steps, reports),
        **_carbon_figures(tracker.steps),
    )
    (out / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
    return summary
