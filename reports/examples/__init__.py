"""The example report: `python -m releasegate.reports.examples` (see `reports/examples/__main__.py`)."""
