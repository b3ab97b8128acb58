"""Prefect flows that compose the stages, and the CLI that triggers them."""
