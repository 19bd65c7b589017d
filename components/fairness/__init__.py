"""Fairness: quality and fairness by sensitive feature, with TFMA and Fairness Indicators."""
