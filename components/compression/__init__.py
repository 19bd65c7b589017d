"""Compression: pruning, QAT and TFLite, measured; and the shared predict function."""
