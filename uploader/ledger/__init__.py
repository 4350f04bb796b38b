"""Ledger: the durable JSON-lines record of a run, its lock, run directories and the run summary."""
