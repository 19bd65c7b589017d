"""Data validation with tensorflow-data-validation: ingestion, statistics, schema, anomalies."""
