"""The gate's policy; parsed in :mod:`greenkfp.components._shared.policy`, re-exported here.

The fairness mitigation step reads the same policy, and families do not import each other,
so the parsing lives in ``_shared``; these names stay importable from here.
"""

from greenkfp.components._shared.policy import (  # noqa: F401 (re-exported)
    CHAMPION_METRICS,
    DEFAULTS,
    MITIGATION_METHODS,
    THRESHOLDS,
    FairnessBound,
    Policy,
    load_document,
    parse_policy,
)
