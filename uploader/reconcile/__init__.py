"""Reconcile: ask Target what landed (batchStatus), verify a sample, report, write failed rows."""
