"""Tools over the pipelines: compile them to YAML, write the component reference, draw graphs."""
