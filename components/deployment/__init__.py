"""Deployment: the gate that blesses a model and the atomic push to a model registry."""
