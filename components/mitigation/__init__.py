"""Fairness mitigation: per-group thresholds (and, by policy, other remedies) before the gate."""
