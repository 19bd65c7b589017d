"""Continuous training: retrain only when the data or the live model calls for it."""
