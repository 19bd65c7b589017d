"""What the ``deploy_model`` component does, as plain functions: :func:`run_deploy_model`.

The registry's storage is in :mod:`registry`, the canary check in :mod:`canary`, the
model cards in :mod:`model_card` (Markdown), :mod:`hf_card` (Hugging Face README) and
:mod:`mct_card` (Model Card Toolkit JSON), and the KServe manifest in :mod:`kserve`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.image import component_image
from greenkfp.components._shared.model_artifact import SAVED_MODEL_DIRNAME
from greenkfp.components._shared.registry_reading import (
    ATTRIBUTIONS_FILE,
    DRIFT_REFERENCE_FILE,
    PIPELINE_ENERGY_FILE,
    SCHEMA_FILE,
    TRAIN_STATISTICS_FILE,
)
from greenkfp.components._shared.serving_spec import (
    SERVING_FILE,
    TFLITE_PAIR,
    spec_for_model_dir,
)
from greenkfp.components._shared.step_records import BlessingRecord, DeploymentRecord
from greenkfp.components.deployment import hf_card, kserve, mct_card, model_card, registry

BLESSING_FILE = "blessing.json"
MODEL_CARD_FILE = "model_card.md"
MODEL_CARD_JSON_FILE = "model_card.json"
HF_CARD_FILE = "README.md"
MANIFEST_FILE = "inferenceservice.yaml"
LINEAGE_FILE = "lineage.json"
DRIFT_REFERENCE_ROWS = 5000
"""Most training rows a version keeps as its drift reference (a seeded sample)."""


@dataclass
class TrainingRecord:
    """What a version keeps so that a later run can judge new data against it.

    Attributes:
        statistics_path: TFDV statistics of the training data ("" when not given).
        schema_path: The TFDV schema the model was trained with ("" when not given).
        train_dataset_path: The training data; a seeded sample of its numeric features
            becomes the drift reference ("" when not given).
        step_energy_kwh: The energy each step before the push spent, by step.
        training_energy: train_model's energy description (its Metrics' strings:
            ``cpu_model``, ``gpu_model``, ``country_iso_code``, ``region``, ...), for the
            cards' hardware and location.
    """

    statistics_path: str = ""
    schema_path: str = ""
    train_dataset_path: str = ""
    step_energy_kwh: dict[str, float] = field(default_factory=dict)
    training_energy: dict[str, str] = field(default_factory=dict)

    @property
    def hardware(self) -> str:
        """The CPU and GPU training ran on, as its energy reading recorded them."""
        e = self.training_energy
        parts = [f"CPU: {e['cpu_model']}" if e.get("cpu_model") else ""]
        parts.append(f"GPU: {e['gpu_model']}" if e.get("gpu_model") else "")
        return "; ".join(p for p in parts if p)

    @property
    def location(self) -> str:
        """The grid training drew from: country ISO code and region, as recorded."""
        e = self.training_energy
        return " / ".join(str(e[k]) for k in ("country_iso_code", "region") if e.get(k))

    def lineage(self) -> list[tuple[str, str, str]]:
        """``(input, URI, SHA-256)`` of the training data, schema and statistics given."""
        named = (
            ("training data", self.train_dataset_path),
            ("schema", self.schema_path),
            ("training statistics", self.statistics_path),
        )
        return [(name, path, uri_io.sha256_of(path)) for name, path in named if path]

    def files(self, label_column: str) -> dict[str, bytes]:
        """The version's files this record gives (only those it has the inputs for)."""
        files: dict[str, bytes] = {}
        if self.statistics_path:
            files[TRAIN_STATISTICS_FILE] = uri_io.read_bytes(self.statistics_path)
        if self.schema_path:
            files[SCHEMA_FILE] = uri_io.read_bytes(self.schema_path)
        if self.train_dataset_path:
            files[DRIFT_REFERENCE_FILE] = self._drift_reference(label_column)
        if self.step_energy_kwh:
            energy = {
                "total_kwh": sum(self.step_energy_kwh.values()),
                "steps": dict(sorted(self.step_energy_kwh.items())),
                "scope": "the steps of the pipeline run that produced this version, before "
                "deploy_model (as each recorded in its Metrics)",
            }
            files[PIPELINE_ENERGY_FILE] = json.dumps(energy, indent=2).encode()
        return files

    def _drift_reference(self, label_column: str) -> bytes:
        df = uri_io.read_dataset(self.train_dataset_path)
        numeric = [c for c in df.select_dtypes("number").columns if c != label_column]
        if self.schema_path:
            from greenkfp.components._shared.tfdv_drift import is_numeric_feature
            from greenkfp.components._shared.tfdv_schema import load_schema

            schema = load_schema(self.schema_path)
            categorical = {f.name for f in schema.feature if not is_numeric_feature(f)}
            numeric = [c for c in numeric if c not in categorical]
        sample = df[numeric]
        if len(sample) > DRIFT_REFERENCE_ROWS:
            sample = sample.sample(n=DRIFT_REFERENCE_ROWS, random_state=0)
        return sample.to_csv(index=False).encode()


def read_blessing(path: str) -> BlessingRecord:
    """Reads the gate's blessing record, checking its shape.

    Raises:
        InputError: When the file is missing, not JSON, or not a blessing (no boolean
            ``approved``, ``checks`` not a list of dicts).
    """
    try:
        record = json.loads(uri_io.read_bytes(path))
    except ValueError as err:
        raise InputError(f"blessing {path} is not JSON: {err}") from err
    return BlessingRecord.from_dict(record, name=f"blessing {path}")


def _tree_sha256(folder: str) -> str:
    digest = hashlib.sha256()
    for source, rel in sorted(registry.version_layout(folder), key=lambda f: f[1]):
        digest.update(f"{rel}\0{uri_io.sha256_of(source)}\n".encode())
    return digest.hexdigest()


def _model_metadata(model_dir: str) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in ("model_metadata.json", "compressed_model.json"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            try:
                with open(path) as f:
                    loaded = json.load(f)
            except ValueError as err:
                raise InputError(f"{path} is not JSON: {err}") from err
            if isinstance(loaded, dict):
                facts.update(loaded)
    return facts


def served_files(model_dir: str) -> tuple[list[tuple[str, str]], Any]:
    """The files a version of this model holds and its serving spec (``serving.json``).

    A compressed model keeps only its TFLite pair and manifest: the pruned or QAT float
    SavedModel beside it was not what the gate judged, so it is not pushed.
    """
    files = registry.version_layout(model_dir)
    spec = spec_for_model_dir(model_dir)
    if spec.format == TFLITE_PAIR:
        nested = os.path.join(model_dir, SAVED_MODEL_DIRNAME) + os.sep
        files = [(source, rel) for source, rel in files if not source.startswith(nested)]
    return files, spec


def _attributions(
    model_dir: str, eval_df: Any, metadata: Mapping[str, Any], blessing: BlessingRecord
) -> Optional[Any]:
    """Permutation importance of the candidate on the eval rows, per sensitive slice too.

    None when the model's metadata names no label or features (nothing to explain).
    """
    from greenkfp.components._shared.attribution import explain_model
    from greenkfp.components._shared.labels import encode_label
    from greenkfp.components._shared.predictor import load_predictor

    features = model_card.model_features(metadata)
    label = metadata.get("label_column")
    if not features or not label or label not in eval_df.columns:
        return None
    labels = encode_label(eval_df[label], metadata.get("positive_label", 1))
    sensitive = {
        row[1] for row in model_card.fairness_rows(blessing.input_metrics("fairness") or {})
    }
    return explain_model(
        load_predictor(model_dir),
        eval_df,
        labels,
        features,
        slice_by=sorted(f for f in sensitive if f in eval_df.columns),
    )


def _group_thresholds(model_dir: str) -> dict[str, Any]:
    """The model's per-group decision thresholds (fairness mitigation), or empty."""
    from greenkfp.components._shared import group_thresholds

    spec = group_thresholds.read(model_dir)
    return spec.to_dict() if spec else {}


def run_deploy_model(
    *,
    model_dir: str,
    blessing_path: str,
    eval_path: str,
    registry_uri: str,
    model_name: str,
    canary_rows: int = 32,
    canary_tolerance: float = 1e-5,
    intended_use: str = "",
    namespace: str = "",
    pin_version: bool = True,
    apply: bool = False,
    uris: Optional[Mapping[str, str]] = None,
    verifier: Optional[Callable[[str], None]] = None,
    training: Optional[TrainingRecord] = None,
) -> DeploymentRecord:
    """Pushes a blessed model to the registry, verified, and makes it live.

    Nothing is read from or written to the registry when the blessing refuses the model.

    Args:
        model_dir: The candidate model artifact (``train_model`` or ``compress_model`` output).
        blessing_path: The gate's blessing record.
        eval_path: Eval data; its first ``canary_rows`` rows are the canary inputs.
        registry_uri: Registry base URI (local path or ``gs://``).
        model_name: The model's name in the registry (a DNS-1035 label).
        canary_rows: Rows scored by the candidate and by the pushed copy.
        canary_tolerance: Largest allowed absolute score difference.
        intended_use: The model card's intended use; empty gives a generic statement.
        namespace: Namespace of the InferenceService; empty: the pod's when applied.
        pin_version: Serve exactly this version (``storageUris``, KServe >= 0.16), or
            the model root (``storageUri``).
        apply: Apply the InferenceService in the cluster this runs in.
        uris: ``model``, ``eval_data``, ``blessing`` artifact URIs for the lineage.
        verifier: Replaces the canary check (called with the staged version folder).
        training: Training statistics, schema, data sample and pipeline energy the version
            keeps for later runs to judge new data against (whatever is given).

    Returns:
        The deployment record: what was pushed, or why nothing was.

    Raises:
        InputError: Bad parameters, a missing or malformed blessing, empty eval data or
            model folder, or an unwritable registry; nothing is written then.
    """
    uris = dict(uris or {})
    if not registry_uri:
        raise InputError("registry_uri is empty: name a local folder or gs:// URI")
    registry.validate_model_name(model_name)
    if apply:
        kserve.check_can_apply(registry_uri)
    blessing = read_blessing(blessing_path)
    outcome = DeploymentRecord(deployed=False, registry_uri=registry_uri, model_name=model_name)
    if not blessing.approved:
        outcome.reasons = ["the gate did not bless the model", *blessing.reasons]
        return outcome

    eval_df = uri_io.read_dataset(eval_path)
    if eval_df.empty:
        raise InputError(f"eval data {eval_path} has no rows for canary predictions")
    if canary_rows < 1:
        raise InputError(f"canary_rows must be at least 1, got {canary_rows}")
    files, serving = served_files(model_dir)
    real_model = verifier is None  # a stand-in check (tests) may come with no real model
    if verifier is None:
        from greenkfp.components.deployment.canary import CanaryCheck

        verifier = CanaryCheck(model_dir, eval_df.head(canary_rows), canary_tolerance)
    metadata = _model_metadata(model_dir)
    explained = _attributions(model_dir, eval_df, metadata, blessing) if real_model else None
    training = training or TrainingRecord()
    kept = training.files(str(metadata.get("label_column") or ""))
    eval_sha256 = uri_io.sha256_of(eval_path)
    lineage = [
        ("model", uris.get("model", model_dir), _tree_sha256(model_dir)),
        ("eval data", uris.get("eval_data", eval_path), eval_sha256),
        ("blessing", uris.get("blessing", blessing_path), uri_io.sha256_of(blessing_path)),
        *training.lineage(),
    ]
    for source, entry in sorted(blessing.inputs.items()):
        lineage.append((f"{source} metrics", entry.get("uri", ""), "–"))
    reg = registry.Registry(registry_uri)
    model_uri = reg.model_uri(model_name)
    pushed_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

    def extras(version: int, version_uri: str) -> dict[str, bytes]:
        manifest = kserve.inference_service(
            model_name,
            model_uri,
            version,
            namespace,
            pin_version,
            container=(
                kserve.predictor_container(component_image(), reg.base_uri, model_name)
                if serving.format == TFLITE_PAIR
                else None
            ),
        )
        outcome.manifest = manifest
        canary_report = dict(getattr(verifier, "report", {}) or {})
        card = model_card.CardFacts(
            model_name=model_name,
            version=version,
            version_uri=version_uri,
            pushed_at=pushed_at,
            blessing=blessing,
            model_metadata=metadata,
            model_files=sorted(rel for _, rel in files if "/" not in rel),
            data={
                "eval data SHA-256": eval_sha256,
                "eval data rows x columns": f"{len(eval_df)} x {len(eval_df.columns)}",
                **{f"{name} SHA-256": digest for name, _, digest in training.lineage()},
            },
            lineage=lineage,
            canary=canary_report,
            intended_use=intended_use,
            top_features=[(i.feature, i.mean) for i in explained.global_[:5]] if explained else [],
            attribution_std={i.feature: i.std for i in explained.global_[:5]} if explained else {},
            image=component_image(),
            hardware=training.hardware,
            location=training.location,
            group_thresholds=_group_thresholds(model_dir),
        )
        candidate = blessing.candidate_metrics
        recorded = {
            "model": model_name,
            "version": version,
            "pushed_at": pushed_at,
            "candidate": {m: info["value"] for m, info in candidate.items()},
            "candidate_sources": {m: info["source"] for m, info in candidate.items()},
            **{s: e.get("metrics") for s, e in blessing.inputs.items()},
            "canary": canary_report,
        }
        return {
            BLESSING_FILE: blessing.to_json().encode(),
            SERVING_FILE: serving.to_json().encode(),
            registry.METRICS_FILE: json.dumps(recorded, indent=2, sort_keys=True).encode(),
            MODEL_CARD_FILE: model_card.render(card).encode(),
            HF_CARD_FILE: hf_card.render(card).encode(),
            MODEL_CARD_JSON_FILE: mct_card.render(card).encode(),
            MANIFEST_FILE: kserve.to_yaml(manifest).encode(),
            LINEAGE_FILE: json.dumps(
                [{"input": n, "uri": u, "sha256": h} for n, u, h in lineage], indent=2
            ).encode(),
            **kept,
            **(
                {ATTRIBUTIONS_FILE: json.dumps(explained.to_dict(), indent=2).encode()}
                if explained
                else {}
            ),
        }

    passed = int(blessing.figures["checks_passed"])
    reason = f"deploy_model: blessed by the gate ({passed} of {len(blessing.checks)} checks passed)"
    result = reg.push(model_name, files, extras, verify=verifier, reason=reason)
    outcome.deployed = True
    outcome.version = result.version
    outcome.pushed_uri = result.uri
    outcome.live = result.live
    outcome.live_version = result.live_version
    outcome.previous_live = result.previous_live
    outcome.canary = dict(getattr(verifier, "report", {}) or {})
    if not result.live:
        outcome.reasons = [
            f"version {result.version} is published; LIVE stays at the newer version "
            f"{result.live_version} pushed meanwhile"
        ]
    if apply and outcome.manifest is not None:
        try:
            outcome.applied = kserve.apply(outcome.manifest)
        except Exception as err:
            raise RuntimeError(
                f"version {result.version} is published at {result.uri} (LIVE: "
                f"{result.live_version}), but applying the InferenceService failed: {err}"
            ) from err
    return outcome
