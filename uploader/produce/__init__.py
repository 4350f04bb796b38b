"""Produce: read CSV/Parquet, map columns, validate, dedupe, percent-encode and cut API-sized batches."""
