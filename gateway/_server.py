"""Run MLflow's tracking server (which carries the AI Gateway) on releasegate's MLflow store.

Not a gateway of ours: `mlflow server` with the settings the gateway needs here (measured on
MLflow 3.17.2, docs/GATEWAY.md):
- `--secrets-cache-ttl` bounds how long a changed endpoint keeps serving its old config (the CLI
  overrides MLFLOW_SERVER_SECRETS_CACHE_TTL; default 60 s, minimum 10 s);
- vLLM upstreams are plain-HTTP, private addresses: MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES=http,https
  and MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS=true, or secrets with such an api_base are refused;
- `--app-name releasegate-gateway`: MLflow's own app with _mlflow_fixes.py applied (usage traces
  written once, by a sink process per worker at idle priority, three per-request costs kept), each
  only on the MLflow code it was written for;
  `mlflow_fixes=()` runs MLflow as released;
- `--workers 1` (the default; `workers=` sets more: 2 did not lower the CPU per request,
  docs/GATEWAY.md) and MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false start in seconds (FACTS.md).
Provider keys are encrypted with MLFLOW_CRYPTO_KEK_PASSPHRASE: the server and every process that
writes secrets must share it (unset, MLflow uses a development default: fine for the demo only).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from releasegate.core import InputError, state_dir
from releasegate.releases import mlflow_uri as resolve_mlflow_uri

from ._mlflow_fixes import FIXES, FIXES_ENV, FIXES_ROUTE, FixesState

MLFLOW_APP = "releasegate-gateway"  # pyproject.toml, entry point group mlflow.app

DEFAULT_CACHE_TTL_S = 10
MAX_WORKERS = 64  # processes of one `mlflow server`: more is a typo, not a gateway host


# What an MLflow server needs to hold vLLM upstreams as gateway secrets (also the stack's tracking
# server, through which endpoints are written: it refuses such an api_base without them).
GATEWAY_SETTINGS = {"MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
                    "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true",
                    "MLFLOW_ENABLE_AI_GATEWAY": "true"}


# Where MLflow looks up token prices for a usage trace's cost: unset, a remote catalog fetched with
# retries on the first trace per provider (and again after each cache TTL), blocking whatever computes
# the cost (the span's end on the event loop, the trace writer): 6-8 s here, where there is no network,
# for the first requests after a start. Empty: the catalog bundled with the pinned MLflow (prices that
# do not change under a release). An operator's own value (a mirror) is kept.
CATALOG_ENV = "MLFLOW_MODEL_CATALOG_URI"


def gateway_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {CATALOG_ENV: "", **os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **GATEWAY_SETTINGS}
    env.update(extra or {})
    return env


class GatewayServer:
    """`mlflow server` over releasegate's store: `with GatewayServer() as url: ...` (stopped on exit)."""

    def __init__(self, *, mlflow_uri: str | None = None, port: int | None = None, host: str = "127.0.0.1",
                 cache_ttl_s: int = DEFAULT_CACHE_TTL_S, log_path: Path | None = None,
                 startup_timeout_s: float = 120.0, workers: int = 1, mlflow_fixes: tuple[str, ...] = FIXES) -> None:
        from releasegate.gpu import free_port, port_in_use

        self.backend = resolve_mlflow_uri(mlflow_uri)
        if not self.backend.startswith(("sqlite:", "postgresql", "mysql", "mssql")):
            raise InputError(f"the AI Gateway needs a SQL store, not {self.backend}", field="--mlflow-uri",
                             fix="use sqlite:///... or postgresql://... (or point clients at a running server)")
        if port is not None and port_in_use(port, host):
            raise InputError(f"port {port} on {host} is already in use", field="--port", fix="choose another port")
        if not 10 <= cache_ttl_s <= 300:
            raise InputError(f"cache TTL {cache_ttl_s} s is outside MLflow's 10-300 s", field="--cache-ttl",
                             fix="pass a value from 10 to 300")
        if not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"{workers} workers: 1 to {MAX_WORKERS} are allowed", field="--workers",
                             fix=f"pass --workers from 1 to {MAX_WORKERS} (one per core of the gateway host)")
        unknown = sorted(set(mlflow_fixes) - set(FIXES))
        if unknown:
            raise InputError(f"unknown MLflow fix {', '.join(unknown)}", field="mlflow_fixes", fix=f"name some of {', '.join(FIXES)}")
        self.mlflow_fixes = tuple(mlflow_fixes)
        self.fixes: FixesState | None = None  # what the server reports it runs (FIXES_ROUTE), once started
        self.host, self.port = host, port or free_port(host)
        self.workers = workers
        self.cache_ttl_s = cache_ttl_s
        self.log_path = log_path or state_dir() / "gateway" / f"mlflow-{self.port}.log"
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts = state_dir() / "mlartifacts"
        argv = [sys.executable, "-m", "mlflow", "server", "--host", self.host, "--port", str(self.port),
                "--workers", str(self.workers), "--backend-store-uri", self.backend, "--default-artifact-root", str(artifacts),
                "--secrets-cache-ttl", str(self.cache_ttl_s)]
        if self.mlflow_fixes:
            argv += ["--app-name", MLFLOW_APP]
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=gateway_env({FIXES_ENV: ",".join(self.mlflow_fixes)}),
                                            start_new_session=True)
        deadline = started + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}; log {self.log_path}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    self.startup_s = time.monotonic() - started
                    self.fixes = self._read_fixes()
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {self.startup_timeout_s:.0f} s; log {self.log_path}")

    def _read_fixes(self) -> FixesState:
        if not self.mlflow_fixes:
            return FixesState()
        answer = httpx.get(self.url + FIXES_ROUTE, timeout=10)
        answer.raise_for_status()
        return FixesState.from_json(answer.json())

    def fixes_line(self) -> str:
        """One line for logs and reports: the MLflow fixes this server runs with, and any refused."""
        return (self.fixes or FixesState()).line()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def chat_url(gateway_url: str) -> str:
    """MLflow's OpenAI-compatible route: the endpoint name goes in the body's `model`."""
    return gateway_url.rstrip("/") + "/gateway/mlflow/v1/chat/completions"
