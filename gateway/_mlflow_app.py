"""The app `releasegate-gateway` (entry point group `mlflow.app`, pyproject.toml): MLflow's own server app
with _mlflow_fixes applied first, for `mlflow server --app-name releasegate-gateway` (GatewayServer).

Adds one read-only route, GET /releasegate/mlflow-fixes: MLflow's version and the fixes applied or
refused (and why) in this worker, so whoever starts the server can see and report what it runs.
"""
from __future__ import annotations

import logging

from fastapi.routing import APIRoute

from ._mlflow_fixes import FIXES_ROUTE, apply

STATE = apply()
for _name, _reason in STATE.refused.items():
    logging.getLogger(__name__).warning("releasegate: MLflow fix %s not applied: %s", _name, _reason)

from mlflow.server.fastapi_app import app  # noqa: E402  (after the fixes, as the worker imports it)


def _fixes() -> dict:
    return STATE.to_json()


# before MLflow's catch-all mount of its Flask app at "/", which would answer first
app.router.routes.insert(0, APIRoute(FIXES_ROUTE, _fixes, methods=["GET"]))
