"""Sustainability: the run's energy, carbon and what they bought, in one report."""
