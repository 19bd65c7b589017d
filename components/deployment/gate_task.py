"""What the ``evaluate_gate`` component does, as plain functions: :func:`run_evaluate_gate`.

The checks themselves are in :mod:`gate`, the policy in :mod:`policy`; here the policy is
parsed, the live version read from the registry, and the inputs recorded.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment import gate, policy, registry

#: (artifact URI, metrics metadata) of a Metrics input, or None when not given.
MetricsInput = Optional[tuple[str, Mapping[str, Any]]]


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


def run_evaluate_gate(
    *,
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

    Raises:
        InputError: A bad policy, an unknown input, a registry without a model name, or a
            check whose metric no input has.
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
    result.model_name = model_name
    return result
