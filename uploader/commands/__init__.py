"""Click commands; uploader.cli registers them on the main group."""
