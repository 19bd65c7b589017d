"""Code shared by every component family: image reference, errors, I/O, reports."""
