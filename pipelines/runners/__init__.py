"""Where a compiled pipeline runs: locally through kfp.local, on a KFP host, on Vertex AI."""
