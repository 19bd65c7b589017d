"""What the ``evaluate_gate`` and ``deploy_model`` components do, as plain functions over files."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment import gate, kserve, model_card, policy, registry

BLESSING_FILE = "blessing.json"
MODEL_CARD_FILE = "model_card.md"
MANIFEST_FILE = "inferenceservice.yaml"
LINEAGE_FILE = "lineage.json"

#: (artifact URI, metrics metadata) of a Metrics input, or None when not given.
MetricsInput = Optional[tuple[str, Mapping[str, Any]]]


# ----------------------------------------------------------------------------- gate


def load_live_model(registry_uri: str, model_name: str) -> Optional[gate.LiveModel]:
    """Returns the live version's recorded candidate metrics, or None when nothing is live."""
    reg = registry.Registry(registry_uri)
    version = reg.live_version(model_name)
    if version is None:
        return None
    recorded = reg.read_metrics(model_name, version)
    candidate = recorded.get("candidate")
    if not isinstance(candidate, dict):
        raise InputError(
            f"{reg.version_uri(model_name, version)}/{registry.METRICS_FILE} has no "
            "'candidate' metrics to compare with"
        )
    figures = {k: float(v) for k, v in candidate.items() if isinstance(v, (int, float))}
    return gate.LiveModel(version, reg.version_uri(model_name, version), figures)


def run_gate(
    policy_text: str,
    inputs: Mapping[str, MetricsInput],
    registry_uri: str = "",
    model_name: str = "",
) -> gate.GateResult:
    """Parses the policy, reads the live model when a registry is named, runs the checks.

    Args:
        policy_text: The policy (YAML or JSON; empty: defaults).
        inputs: ``training``, ``compression``, ``fairness`` -> (URI, metrics) or None.
        registry_uri: Registry base URI; empty skips champion/challenger.
        model_name: The model's name in the registry (required with ``registry_uri``;
            without one it only names the model in the summary).

    Returns:
        The gate's result, its ``inputs`` filled with what was read.
    """
    parsed = policy.parse_policy(policy_text)
    if registry_uri and not model_name:
        raise InputError(
            f"registry_uri {registry_uri!r} needs a model_name: the champion/challenger "
            "check compares with that model's live version"
        )
    unknown = sorted(set(inputs) - set(gate.SOURCES))
    if unknown:
        raise InputError(f"unknown metrics inputs {unknown}; known: {list(gate.SOURCES)}")
    sources = {
        name: gate.numeric_metrics(given[1]) if given else None
        for name, given in ((s, inputs.get(s)) for s in gate.SOURCES)
    }
    live = None
    if registry_uri:
        registry.validate_model_name(model_name)
        live = load_live_model(registry_uri, model_name)
    result = gate.evaluate(parsed, **sources, live=live, champion_check=bool(registry_uri))
    result.inputs = {
        name: {"uri": inputs[name][0], "metrics": sources[name]}
        for name in gate.SOURCES
        if inputs.get(name)
    }
    return result


def write_gate_outputs(
    result: gate.GateResult, blessing_path: str, summary_path: str, model_name: str = ""
) -> None:
    """Writes the blessing record (JSON) and the reviewer's Markdown summary."""
    with uri_io.open_uri(blessing_path, "w") as f:
        json.dump(result.to_dict(), f, indent=2, sort_keys=True)
    with uri_io.open_uri(summary_path, "w") as f:
        f.write(gate.to_markdown(result, model_name))


# ----------------------------------------------------------------------------- deploy


@dataclass
class DeployOutcome:
    """What a deploy did (or why it did nothing)."""

    deployed: bool
    registry_uri: str
    model_name: str
    version: int = 0
    pushed_uri: str = ""
    live: bool = False
    live_version: Optional[int] = None
    previous_live: Optional[int] = None
    reasons: list[str] = field(default_factory=list)
    manifest: Optional[dict[str, Any]] = None
    canary: dict[str, Any] = field(default_factory=dict)
    applied: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-ready record."""
        return asdict(self)


def read_blessing(path: str) -> dict[str, Any]:
    """Reads the gate's blessing record, checking its shape.

    Raises:
        InputError: When the file is missing, not JSON, or has no boolean ``approved``.
    """
    try:
        record = json.loads(uri_io.read_bytes(path))
    except ValueError as err:
        raise InputError(f"blessing {path} is not JSON: {err}") from err
    if not isinstance(record, dict) or not isinstance(record.get("approved"), bool):
        raise InputError(f"blessing {path} has no boolean 'approved': not written by evaluate_gate")
    if not isinstance(record.get("checks"), list):
        raise InputError(f"blessing {path} has no list of 'checks'")
    return record


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


def run_deploy(
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
) -> DeployOutcome:
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

    Returns:
        The outcome.
    """
    uris = dict(uris or {})
    if not registry_uri:
        raise InputError("registry_uri is empty: name a local folder or gs:// URI")
    registry.validate_model_name(model_name)
    if apply:
        kserve.check_can_apply(registry_uri)
    blessing = read_blessing(blessing_path)
    outcome = DeployOutcome(deployed=False, registry_uri=registry_uri, model_name=model_name)
    if not blessing["approved"]:
        reasons = [str(r) for r in blessing.get("reasons") or []]
        outcome.reasons = ["the gate did not bless the model", *reasons]
        return outcome

    eval_df = uri_io.read_dataset(eval_path)
    if eval_df.empty:
        raise InputError(f"eval data {eval_path} has no rows for canary predictions")
    if canary_rows < 1:
        raise InputError(f"canary_rows must be at least 1, got {canary_rows}")
    files = registry.version_layout(model_dir)
    if verifier is None:
        from greenkfp.components.deployment.canary import CanaryCheck

        verifier = CanaryCheck(model_dir, eval_df.head(canary_rows), canary_tolerance)
    has_saved_model = any(rel == registry.SAVED_MODEL_PB for _, rel in files)
    metadata = _model_metadata(model_dir)
    lineage = [
        ("model", uris.get("model", model_dir), _tree_sha256(model_dir)),
        ("eval data", uris.get("eval_data", eval_path), uri_io.sha256_of(eval_path)),
        ("blessing", uris.get("blessing", blessing_path), uri_io.sha256_of(blessing_path)),
    ]
    for source, entry in sorted((blessing.get("inputs") or {}).items()):
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
            model_format="tensorflow" if has_saved_model else "tflite",
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
                "canary/eval data": uris.get("eval_data", eval_path),
                "eval data rows x columns": f"{len(eval_df)} x {len(eval_df.columns)}",
            },
            lineage=lineage,
            canary=canary_report,
            intended_use=intended_use,
        )
        candidate = blessing.get("candidate_metrics") or {}
        recorded = {
            "model": model_name,
            "version": version,
            "pushed_at": pushed_at,
            "candidate": {m: info["value"] for m, info in candidate.items()},
            "candidate_sources": {m: info["source"] for m, info in candidate.items()},
            **{s: e.get("metrics") for s, e in (blessing.get("inputs") or {}).items()},
            "canary": canary_report,
        }
        return {
            BLESSING_FILE: json.dumps(blessing, indent=2, sort_keys=True).encode(),
            registry.METRICS_FILE: json.dumps(recorded, indent=2, sort_keys=True).encode(),
            MODEL_CARD_FILE: model_card.render(card).encode(),
            MANIFEST_FILE: kserve.to_yaml(manifest).encode(),
            LINEAGE_FILE: json.dumps(
                [{"input": n, "uri": u, "sha256": h} for n, u, h in lineage], indent=2
            ).encode(),
        }

    result = reg.push(model_name, files, extras, verify=verifier)
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


def deploy_markdown(outcome: DeployOutcome) -> str:
    """Returns the reviewer's summary of a deploy."""
    if not outcome.deployed:
        lines = [f"# Deployment: not deployed ({outcome.model_name})", ""]
        lines += [f"- {r}" for r in outcome.reasons]
        lines += ["", f"Nothing was written to {outcome.registry_uri}."]
        return "\n".join(lines) + "\n"
    live = "and made it LIVE" if outcome.live else f"(LIVE stays at version {outcome.live_version})"
    lines = [
        f"# Deployment: version {outcome.version} of {outcome.model_name}",
        "",
        f"Pushed to `{outcome.pushed_uri}` {live}; "
        f"previous LIVE: {'none' if outcome.previous_live is None else outcome.previous_live}.",
    ]
    if outcome.canary:
        lines.append(
            f"Canary: {outcome.canary.get('rows')} rows, largest score difference "
            f"{outcome.canary.get('max_abs_diff', 0.0):.3g}."
        )
    lines += [f"- {r}" for r in outcome.reasons]
    if outcome.applied:
        lines.append(f"InferenceService {outcome.applied}.")
    if outcome.manifest:
        lines += ["", "```yaml", kserve.to_yaml(outcome.manifest).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def write_deploy_outputs(
    outcome: DeployOutcome, record_path: str, manifest_path: str, summary_path: str
) -> None:
    """Writes the deployment record (JSON), the InferenceService YAML and the summary."""
    with uri_io.open_uri(record_path, "w") as f:
        json.dump(outcome.to_dict(), f, indent=2, sort_keys=True)
    with uri_io.open_uri(manifest_path, "w") as f:
        if outcome.manifest:
            f.write(kserve.to_yaml(outcome.manifest))
        else:
            f.write("# Not deployed: " + "; ".join(outcome.reasons) + "\n")
    with uri_io.open_uri(summary_path, "w") as f:
        f.write(deploy_markdown(outcome))
