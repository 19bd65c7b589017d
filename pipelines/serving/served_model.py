"""A registry version loaded for serving, and the follower that keeps it the LIVE one."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.registry_reading import RegistryReader
from greenkfp.components._shared.serving_spec import TFLITE_PAIR, ServingSpec, read_serving_spec
from greenkfp.components._shared.step_keys import COMPRESSED_INFERENCE_ENERGY

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """One version, loaded: scores raw rows with the library's shared predictor.

    Attributes:
        name: The registry's model name.
        version: The version number.
        spec: The version's ``serving.json``.
        predictor: Raw rows in, scores out (``predictor.load_predictor``).
        energy_kwh_per_1k: The served model's measured inference energy per 1,000
            predictions (compress_model's figure), NaN when not recorded.
        sci_g_per_1k: Its SCI per 1,000 predictions (operational), NaN when unknown.
    """

    name: str
    version: int
    spec: ServingSpec
    predictor: Callable[[pd.DataFrame], np.ndarray]
    energy_kwh_per_1k: float = math.nan
    sci_g_per_1k: float = math.nan
    # A TFLite interpreter runs one batch at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Scores raw feature rows (one float per row)."""
        with self._lock:
            return np.asarray(self.predictor(rows), dtype=np.float32).reshape(-1)


def served_figures(metrics: dict[str, Any], spec: ServingSpec) -> tuple[float, float]:
    """Energy per 1,000 predictions and SCI of a version, from its ``metrics.json``.

    Only a TFLite pair has them: they are compress_model's figures of that pair.
    """
    from greenkfp.components.sustainability.task import software_carbon_intensity

    compression = metrics.get("compression") if isinstance(metrics, dict) else None
    if spec.format != TFLITE_PAIR or not isinstance(compression, dict):
        return math.nan, math.nan
    sci = software_carbon_intensity(compression, None)
    energy = compression.get(COMPRESSED_INFERENCE_ENERGY)
    sci_value = sci["sci_g_co2eq_per_1k_predictions"]
    return (
        float(energy) if energy is not None else math.nan,
        float(sci_value) if sci_value is not None else math.nan,
    )


def load_version(reader: RegistryReader, name: str, version: int) -> ServedModel:
    """Loads a complete version fully (every byte read, the model built) before returning.

    Raises:
        InputError: When the version is incomplete or its served artifact does not load.
    """
    from greenkfp.components._shared.predictor import load_predictor

    if not reader.is_complete(name, version):
        raise InputError(f"{reader.version_uri(name, version)} is not a complete version")
    with reader.local_copy(reader.version_uri(name, version)) as local:
        spec = read_serving_spec(local)
        predictor = load_predictor(local)
    try:
        metrics = reader.read_metrics(name, version)
    except InputError:
        metrics = {}
    energy, sci = served_figures(metrics, spec)
    return ServedModel(name, version, spec, predictor, energy, sci)


class LiveFollower:
    """Serves the registry's LIVE version and swaps to a new one when LIVE moves.

    A new version is loaded completely beside the served one, then swapped in under a
    lock: a request holds the model it started with, so no request fails on a swap.

    Attributes:
        reason: Why nothing is served (empty while a version is served).
    """

    def __init__(
        self,
        reader: RegistryReader,
        name: str,
        poll_seconds: float = 2.0,
        on_swap: Optional[Callable[[ServedModel], None]] = None,
    ) -> None:
        self.reader = reader
        self.name = name
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self.reason = "not loaded yet"
        self.load_errors = 0
        self._current: Optional[ServedModel] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def current(self) -> Optional[ServedModel]:
        """The served model, or None when none is (see :attr:`reason`)."""
        with self._lock:
            return self._current

    def refresh(self) -> None:
        """Reads LIVE once; loads and swaps in the version it names when that is new."""
        try:
            live = self.reader.live_version(self.name)
        except Exception as err:  # InputError, or an object store's error: try again later
            self._failed(f"LIVE cannot be read: {err}")
            return
        if live is None:
            if self.current is None:
                self.reason = (
                    f"no LIVE version of {self.name!r} in {self.reader.model_uri(self.name)}"
                )
            return
        served = self.current
        if served is not None and served.version == live:
            return
        try:
            model = load_version(self.reader, self.name, live)
        except Exception as err:  # keep serving what loaded last
            self._failed(f"version {live} does not load: {err}")
            return
        with self._lock:
            self._current = model
        self.reason = ""
        log.info("serving %s version %d (%s)", self.name, live, model.spec.format)
        if self.on_swap is not None:
            self.on_swap(model)

    def _failed(self, message: str) -> None:
        self.load_errors += 1
        log.warning("%s", message)
        if self.current is None:
            self.reason = message

    def start(self) -> None:
        """Loads LIVE now, then polls it in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="live-follower", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def stop(self) -> None:
        """Stops polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 5)
