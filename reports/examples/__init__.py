"""The example report: `python -m reports.examples` (see `reports/examples/__main__.py`)."""
