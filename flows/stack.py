"""The production stack on one machine: what production runs on several (issue 16).

`make stack` (`python -m releasegate.flows.stack up`) starts, each in a process group of its own
with a pid file, and records in `<stack dir>/stack.json` as it goes:
- PostgreSQL databases `<prefix>_prefect`, `<prefix>_mlflow`, `<prefix>_ledger` (created here, so
  `down` drops exactly these and no others);
- `prefect server start` on `<prefix>_prefect`;
- `mlflow server` on `<prefix>_mlflow` with proxied artifacts (`--serve-artifacts`) under the stack dir,
  `--workers 1` and no job execution (FACTS.md: healthy in seconds instead of 20-25 s);
- the ledger on `<prefix>_ledger` (migrated by Alembic on first open);
- the guard (`releasegate guard serve`), registered as the MLflow server's
  `model_version_alias.created`/`deleted` webhook with a secret generated for this stack;
- the gateway: `releasegate gateway up` (MLflow's server with its AI Gateway and releasegate's fixes)
  on `<prefix>_mlflow`, a process of its own so product traffic and its trace writes do not share the
  tracking server's; both servers share a KEK passphrase generated for this stack (gateway secrets
  written through the tracking server are read by the gateway);
- a `process` work pool, the deployments of prefect.yaml (`prefect deploy --all`), and a worker;
- the "crash zombie flow runs" automation: a flow run started by a deployment sends a heartbeat
  event every HEARTBEAT_S seconds (`PREFECT_FLOWS_HEARTBEAT_FREQUENCY`, set for the worker and in
  prefect.yaml); when none arrives for ZOMBIE_AFTER_S the server marks the run CRASHED. Without it
  a flow run whose worker (node) dies stays RUNNING forever (measured with Prefect 3.9.1).
`make stack-down` (`... down`) stops every process it started (with the flow runs and vLLM
servers the worker spawned) and drops the databases it created. A failed `up` leaves its record,
so `down` cleans a half-started stack too.

Everything comes from variables (the `RELEASEGATE_STACK_*` environment, see `StackConfig`), so two
stacks on one machine (or CI and a developer) do not collide. `<stack dir>/stack.env` holds the
exports a shell needs to talk to the running stack (PREFECT_API_URL, RELEASEGATE_LEDGER_URL, ...).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from releasegate.core import InputError, atomic_write_text, project_root, state_dir

ADMIN_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASES = ("prefect", "mlflow", "ledger")
WORK_POOL = "gpu-pool"
# Flow-run heartbeats (Prefect's minimum is 30 s; its default, 180 s) and the silence after which
# the automation crashes a run: three missed heartbeats, as Prefect's "detect zombie flows" guide.
HEARTBEAT_S = 30
ZOMBIE_AFTER_S = 90
ZOMBIE_AUTOMATION = "releasegate: crash zombie flow runs"
KEK_FILE = "gateway-kek.passphrase"  # MLFLOW_CRYPTO_KEK_PASSPHRASE of both MLflow servers (0600)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"{raw!r} is not a port number", field=name, fix="set a number, e.g. 4200") from None


@dataclass(frozen=True)
class StackConfig:
    """Where the stack runs; every value from RELEASEGATE_STACK_* (defaults in brackets)."""

    stack_dir: Path           # RELEASEGATE_STACK_DIR [<state dir>/stack]: pids, logs, artifacts, state
    admin_url: str            # RELEASEGATE_STACK_PG [postgresql://postgres@127.0.0.1:5432/postgres]
    db_prefix: str            # RELEASEGATE_STACK_DB_PREFIX [stack]: databases <prefix>_prefect|_mlflow|_ledger
    host: str                 # RELEASEGATE_STACK_HOST [127.0.0.1]
    prefect_port: int         # RELEASEGATE_STACK_PREFECT_PORT [4200]
    mlflow_port: int          # RELEASEGATE_STACK_MLFLOW_PORT [5000]
    guard_port: int           # RELEASEGATE_STACK_GUARD_PORT [8787]
    gateway_port: int         # RELEASEGATE_STACK_GATEWAY_PORT [5001]
    startup_timeout_s: float  # RELEASEGATE_STACK_TIMEOUT [180]

    @classmethod
    def from_env(cls) -> StackConfig:
        prefix = os.environ.get("RELEASEGATE_STACK_DB_PREFIX", "stack")
        if not prefix.replace("_", "").isalnum() or not prefix[0].isalpha():
            raise InputError(f"RELEASEGATE_STACK_DB_PREFIX={prefix!r} is not a plain name",
                             field="RELEASEGATE_STACK_DB_PREFIX", fix="use letters, digits and _")
        return cls(
            stack_dir=Path(os.environ.get("RELEASEGATE_STACK_DIR") or state_dir() / "stack").resolve(),
            admin_url=os.environ.get("RELEASEGATE_STACK_PG", ADMIN_URL_DEFAULT),
            db_prefix=prefix.lower(),
            host=os.environ.get("RELEASEGATE_STACK_HOST", "127.0.0.1"),
            prefect_port=_env_int("RELEASEGATE_STACK_PREFECT_PORT", 4200),
            mlflow_port=_env_int("RELEASEGATE_STACK_MLFLOW_PORT", 5000),
            guard_port=_env_int("RELEASEGATE_STACK_GUARD_PORT", 8787),
            gateway_port=_env_int("RELEASEGATE_STACK_GATEWAY_PORT", 5001),
            startup_timeout_s=float(os.environ.get("RELEASEGATE_STACK_TIMEOUT", "180")),
        )

    # prefect.yaml's pool: one per Prefect server, and every stack has a server of its own.
    work_pool: str = WORK_POOL

    def database(self, role: str) -> str:
        return f"{self.db_prefix}_{role}"

    def db_url(self, role: str, driver: str) -> str:
        """URL of one of the stack's databases, on the admin URL's server, with `driver`."""
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(drivername=f"postgresql+{driver}", database=self.database(role))
        return url.render_as_string(hide_password=False)

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def guard_url(self) -> str:
        return f"http://{self.host}:{self.guard_port}/"

    @property
    def ledger_url(self) -> str:
        return self.db_url("ledger", "psycopg")

    @property
    def record_path(self) -> Path:
        return self.stack_dir / "stack.json"

    @property
    def env_path(self) -> Path:
        return self.stack_dir / "stack.env"

    def client_env(self) -> dict[str, str]:
        """What a process needs to use the running stack (also written to stack.env)."""
        return {
            "PREFECT_API_URL": self.prefect_api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "RELEASEGATE_MLFLOW_URI": self.mlflow_url,
            "RELEASEGATE_LEDGER_URL": self.ledger_url,
            "RELEASEGATE_GATEWAY_URL": self.gateway_url,  # releasegate.client's scenario calls
        }


@dataclass
class StackRecord:
    """What `up` made, written after every step so `down` can undo a half-started stack."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {pid, pgid, log, url}
    databases: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    def save(self, cfg: StackConfig) -> None:
        # services in start order (no sort_keys): `down` stops them last-first
        atomic_write_text(cfg.record_path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, cfg: StackConfig) -> StackRecord | None:
        if not cfg.record_path.is_file():
            return None
        try:
            data = json.loads(cfg.record_path.read_text())
            return cls(**data)
        except (ValueError, TypeError):
            raise InputError("the stack record is not readable", file=cfg.record_path,
                             fix="stop the processes it names by hand and delete the file") from None


# ---- PostgreSQL --------------------------------------------------------------------------------


def _admin_connect(cfg: StackConfig) -> Any:
    import psycopg

    from sqlalchemy.engine import make_url

    url = make_url(cfg.admin_url).set(drivername="postgresql")
    try:
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise InputError(f"cannot reach PostgreSQL: {str(exc).splitlines()[0]}", field="RELEASEGATE_STACK_PG",
                         fix="start PostgreSQL or point RELEASEGATE_STACK_PG at a server you may create databases on") from None


def _create_databases(cfg: StackConfig, record: StackRecord) -> None:
    with _admin_connect(cfg) as conn:
        for role in DATABASES:
            name = cfg.database(role)
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                raise InputError(f"database {name} already exists (another stack, or one not taken down)",
                                 field="RELEASEGATE_STACK_DB_PREFIX",
                                 fix="run `make stack-down`, drop it, or choose another RELEASEGATE_STACK_DB_PREFIX")
            conn.execute(f'CREATE DATABASE "{name}"')
            record.databases.append(name)
            record.save(cfg)


def _drop_databases(cfg: StackConfig, names: list[str]) -> list[str]:
    dropped = []
    with _admin_connect(cfg) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            dropped.append(name)
    return dropped


# ---- processes -----------------------------------------------------------------------------------


# Each CLI as a module of the running interpreter, not its console script: a script's shebang
# names the interpreter it was installed with (a copied virtualenv keeps the original's), and the
# worker's flow runs use the worker's interpreter, so the whole stack runs this environment's code.
_MODULES = {"prefect": "prefect", "mlflow": "mlflow", "releasegate": "releasegate.flows.cli"}


def cli_command(name: str) -> list[str]:
    """The command that runs `prefect`, `mlflow` or `releasegate` with this interpreter."""
    return [sys.executable, "-m", _MODULES[name]]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise InputError(f"{url} exited with code {proc.returncode} before it answered: {' | '.join(tail)}",
                             file=log, fix="read the log; is the port taken or the database unreachable?")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise InputError(f"{url} did not answer within {timeout_s:.0f} s", file=log,
                     field="RELEASEGATE_STACK_TIMEOUT", fix="read the log, or raise the timeout on a loaded machine")


def _start(cfg: StackConfig, record: StackRecord, name: str, cmd: list[str], env: dict[str, str],
           health: str | None, port: int | None = None, cwd: Path | None = None,
           wait: bool = True) -> subprocess.Popen[bytes]:
    if port is not None and not _port_free(cfg.host, port):
        raise InputError(f"port {port} on {cfg.host} is taken ({name})",
                         field=f"RELEASEGATE_STACK_{name.upper()}_PORT", fix="choose a free port")
    logs = cfg.stack_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        # A session of its own: `down` signals the whole group (mlflow's uvicorn child, ...).
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(cwd or project_root()), start_new_session=True)
    record.services[name] = {"pid": proc.pid, "cmd": cmd[:4], "log": str(log), "health": health}
    (cfg.stack_dir / "pids").mkdir(exist_ok=True)
    (cfg.stack_dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
    record.save(cfg)
    if health and wait:
        _wait_http(health, cfg.startup_timeout_s, proc, log)
    return proc


def _run(cmd: list[str], env: dict[str, str], what: str, cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, env=env, cwd=str(cwd or project_root()), capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise InputError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}",
                         fix="see the message; `make stack-down` cleans up what was started")
    return done.stdout


def _descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _stop(pid: int, grace_s: float = 10.0, *, kill: bool = False) -> None:
    """Stop a service, its process group and every process it spawned (flow runs, vLLM servers).
    `kill`: SIGKILL at once, nothing can clean up (a node that loses power)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        # Flow runs and vLLM servers start sessions of their own: collect them while the tree stands.
        tree = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    sig = signal.SIGKILL if kill else signal.SIGTERM
    for p in reversed(tree):
        try:
            os.killpg(p.pid, sig) if os.getpgid(p.pid) == p.pid else p.send_signal(sig)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


# ---- up / down -----------------------------------------------------------------------------------


def _base_env(cfg: StackConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(cfg.client_env())
    env.setdefault("RELEASEGATE_HOME", str(state_dir()))
    env["PREFECT_HOME"] = str(cfg.stack_dir / "prefect-home")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env["RELEASEGATE_CHECKOUT"] = str(project_root())  # prefect.yaml's pull step
    # The ledger is written first and `releasegate sync` catches MLflow up: a flow run need not
    # spend minutes in MLflow's client retries (default 7, exponential) while the server is down.
    env.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    env.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(HEARTBEAT_S)  # the worker's flow runs inherit it
    return env


def _create_zombie_automation(cfg: StackConfig) -> str:
    """Prefect's zombie detection: after a flow run's heartbeat, expect another (or a final state)
    within ZOMBIE_AFTER_S, else set the run CRASHED. Created over the API of the stack's server."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.settings import PREFECT_API_URL, temporary_settings

    automation = Automation(
        name=ZOMBIE_AUTOMATION,
        description=f"A flow run silent for {ZOMBIE_AFTER_S} s (heartbeat every {HEARTBEAT_S} s) has lost its "
                    "process: mark it CRASHED so it can be rerun (the generation cache keeps what it finished).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=ZOMBIE_AFTER_S)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {ZOMBIE_AFTER_S} s: the flow run's process is gone")],
    )
    with temporary_settings({PREFECT_API_URL: cfg.prefect_api_url}):
        return str(automation.create().id)


def _register_webhook(cfg: StackConfig, secret: str) -> str:
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=cfg.mlflow_url, registry_uri=cfg.mlflow_url)
    hook = c.create_webhook(name="releasegate-guard", url=cfg.guard_url, secret=secret,
                            events=["model_version_alias.created", "model_version_alias.deleted"])
    answer = c.test_webhook(hook.webhook_id)  # the MLflow server signs and delivers it itself
    if answer.response_status != 200:
        raise InputError(f"the guard refused MLflow's test delivery ({answer.response_status}: "
                         f"{answer.response_body})", field="RELEASEGATE_WEBHOOK_SECRET",
                         fix="read the guard's log under the stack dir")
    return str(hook.webhook_id)


def _gateway_settings(cfg: StackConfig) -> dict[str, str]:
    """For both MLflow servers: vLLM upstreams allowed, and one KEK passphrase for gateway secrets."""
    from releasegate.gateway import GATEWAY_SETTINGS

    return {**GATEWAY_SETTINGS, "MLFLOW_CRYPTO_KEK_PASSPHRASE": _stack_secret(cfg, KEK_FILE)}


def _gateway_spec(cfg: StackConfig, env: dict[str, str]) -> tuple[list[str], dict[str, str], str, int]:
    cmd = [*cli_command("releasegate"), "gateway", "up", "--host", cfg.host, "--port", str(cfg.gateway_port),
           "--mlflow-uri", cfg.db_url("mlflow", "psycopg")]
    return cmd, {**env, **_gateway_settings(cfg)}, f"{cfg.gateway_url}/health", cfg.gateway_port


def _stack_secret(cfg: StackConfig, name: str, *, fernet: bool = False) -> str:
    """A secret made once per stack, kept in the stack dir (0600) so restarts reuse it."""
    import base64

    path = cfg.stack_dir / name
    if not path.is_file():
        value = base64.urlsafe_b64encode(os.urandom(32)).decode() if fernet else secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(value)
    return path.read_text().strip()


def _mlflow_spec(cfg: StackConfig, env: dict[str, str]) -> tuple[list[str], dict[str, str], str, int]:
    mlflow_env = {**env, **_gateway_settings(cfg), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                  # the guard is a local plain-HTTP listener; MLflow refuses both by default
                  "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
                  "MLFLOW_WEBHOOK_CACHE_TTL": "1"}
    # MLflow encrypts webhook secrets with this key; unset, each server process makes a new one and
    # a restarted server can no longer sign deliveries for the webhooks it already has.
    mlflow_env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = _stack_secret(cfg, "mlflow-webhook.key", fernet=True)
    cmd = [*cli_command("mlflow"), "server", "--backend-store-uri", cfg.db_url("mlflow", "psycopg"), "--serve-artifacts",
           "--artifacts-destination", str(cfg.stack_dir / "mlartifacts"), "--host", cfg.host,
           "--port", str(cfg.mlflow_port), "--workers", "1"]
    return cmd, mlflow_env, f"{cfg.mlflow_url}/health", cfg.mlflow_port


def _worker_spec(cfg: StackConfig, env: dict[str, str]) -> tuple[list[str], dict[str, str], None, None]:
    cmd = [*cli_command("prefect"), "worker", "start", "--pool", cfg.work_pool, "--type", "process",
           "--name", f"{cfg.db_prefix}-worker"]
    return cmd, env, None, None


# Services a fault drill may stop and start again (`stop_service` / `start_service`).
_RESTARTABLE = {"mlflow": _mlflow_spec, "worker": _worker_spec}


def stop_service(cfg: StackConfig, name: str, *, kill: bool = False) -> None:
    """Stop one service of a running stack (and what it spawned): the worker dies with its flow
    runs, as when its node goes away; the MLflow server goes down. `kill`: SIGKILL, no clean-up."""
    record = StackRecord.load(cfg)
    if record is None or name not in record.services:
        raise InputError(f"no running {name} in the stack", file=cfg.record_path, fix="run `make stack` first")
    _stop(int(record.services[name]["pid"]), kill=kill)


def start_service(cfg: StackConfig, name: str) -> None:
    """Start a stopped service again with the command `up` used."""
    record = StackRecord.load(cfg)
    if record is None or name not in _RESTARTABLE:
        raise InputError(f"cannot start {name}", file=cfg.record_path,
                         fix=f"one of {', '.join(_RESTARTABLE)} in a running stack")
    _start(cfg, record, name, *_RESTARTABLE[name](cfg, _base_env(cfg)))


def up(cfg: StackConfig | None = None, *, say: Any = print) -> StackRecord:
    """Start the stack (see the module docstring). Refuses when a stack is already recorded."""
    cfg = cfg or StackConfig.from_env()
    if StackRecord.load(cfg) is not None:
        raise InputError("a stack is already recorded here", file=cfg.record_path,
                         fix="run `make stack-down` first (it stops what the record names)")
    cfg.stack_dir.mkdir(parents=True, exist_ok=True)
    record = StackRecord()
    record.save(cfg)
    t0 = time.monotonic()
    _create_databases(cfg, record)
    env = _base_env(cfg)

    # Prefect server on PostgreSQL (asyncpg is Prefect's own driver).
    server_env = {**env, "PREFECT_API_DATABASE_CONNECTION_URL": cfg.db_url("prefect", "asyncpg")}
    server_env.pop("PREFECT_API_URL", None)
    prefect = _start(cfg, record, "prefect", [*cli_command("prefect"), "server", "start", "--host", cfg.host,
                                              "--port", str(cfg.prefect_port)],
                     server_env, f"{cfg.prefect_api_url}/health", port=cfg.prefect_port, wait=False)

    # MLflow tracking server: PostgreSQL backend store, artifacts proxied through the server.
    mlflow = _start(cfg, record, "mlflow", *_RESTARTABLE["mlflow"](cfg, env), wait=False)
    # Both servers start at once (each spends most of its start in its own migrations).
    _wait_http(f"{cfg.prefect_api_url}/health", cfg.startup_timeout_s, prefect, Path(record.services["prefect"]["log"]))
    say(f"prefect server   {cfg.prefect_api_url.removesuffix('/api')}  ({time.monotonic() - t0:.0f} s)")
    record.urls["zombie_automation"] = _create_zombie_automation(cfg)
    record.save(cfg)
    say(f"automation       {ZOMBIE_AUTOMATION} (heartbeat {HEARTBEAT_S} s, CRASHED after {ZOMBIE_AFTER_S} s)")
    _wait_http(f"{cfg.mlflow_url}/health", cfg.startup_timeout_s, mlflow, Path(record.services["mlflow"]["log"]))
    say(f"mlflow server    {cfg.mlflow_url}  ({time.monotonic() - t0:.0f} s)")

    from releasegate.releases import Ledger

    Ledger.open(cfg.ledger_url).close()  # migrate now, not in the first flow run
    say(f"ledger           {cfg.db_url('ledger', 'psycopg').split('@')[-1]}")

    secret = _stack_secret(cfg, "webhook.secret")
    guard_env = {**env, "RELEASEGATE_WEBHOOK_SECRET": secret}
    _start(cfg, record, "guard", [*cli_command("releasegate"), "guard", "serve", "--host", cfg.host,
                                  "--port", str(cfg.guard_port)], guard_env, None, port=cfg.guard_port)
    _wait_port(cfg.host, cfg.guard_port, cfg.startup_timeout_s, record.services["guard"])
    record.urls["webhook_id"] = _register_webhook(cfg, secret)
    say(f"guard            {cfg.guard_url}  (MLflow webhook {record.urls['webhook_id']})")

    t1 = time.monotonic()
    _start(cfg, record, "gateway", *_gateway_spec(cfg, env))
    say(f"gateway          {cfg.gateway_url}  ({time.monotonic() - t1:.0f} s; scenario endpoints: "
        f"{cfg.gateway_url}/gateway/mlflow/v1/chat/completions)")

    _run([*cli_command("prefect"), "work-pool", "create", cfg.work_pool, "--type", "process", "--overwrite"], env,
         "prefect work-pool create")
    _run([*cli_command("prefect"), "--no-prompt", "deploy", "--all"], env, "prefect deploy --all")
    _start(cfg, record, "worker", *_RESTARTABLE["worker"](cfg, env))
    say(f"work pool        {cfg.work_pool} (process), worker {cfg.db_prefix}-worker, deployments of prefect.yaml")

    record.urls.update({"prefect": cfg.prefect_api_url.removesuffix("/api"), "prefect_api": cfg.prefect_api_url,
                        "mlflow": cfg.mlflow_url, "guard": cfg.guard_url, "ledger": cfg.ledger_url,
                        "gateway": cfg.gateway_url})
    record.save(cfg)
    atomic_write_text(cfg.env_path, "".join(f"export {k}={v}\n" for k, v in cfg.client_env().items()))
    say(f"stack up in {time.monotonic() - t0:.0f} s; `source {cfg.env_path}` to use it, `make stack-down` to stop")
    return record


def _wait_port(host: str, port: int, timeout_s: float, service: dict[str, Any]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _port_free(host, port):
            return
        time.sleep(0.3)
    raise InputError(f"{host}:{port} did not open within {timeout_s:.0f} s", file=service.get("log"),
                     fix="read the log")


def down(cfg: StackConfig | None = None, *, say: Any = print) -> dict[str, Any]:
    """Stop what the record names (last started first) and drop the databases it created."""
    cfg = cfg or StackConfig.from_env()
    record = StackRecord.load(cfg)
    if record is None:
        say(f"no stack recorded at {cfg.record_path}: nothing to stop")
        return {"stopped": [], "dropped": []}
    stopped = []
    for name, service in reversed(list(record.services.items())):
        _stop(int(service["pid"]))
        stopped.append(name)
        (cfg.stack_dir / "pids" / f"{name}.pid").unlink(missing_ok=True)
    dropped = _drop_databases(cfg, record.databases) if record.databases else []
    for path in (cfg.record_path, cfg.env_path, *(cfg.stack_dir / name for name in ("webhook.secret", "mlflow-webhook.key", KEK_FILE))):
        path.unlink(missing_ok=True)
    say(f"stopped {', '.join(stopped) or 'nothing'}; dropped {', '.join(dropped) or 'no database'}")
    return {"stopped": stopped, "dropped": dropped}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("up", "down"):
        print("usage: python -m releasegate.flows.stack up|down   (variables: RELEASEGATE_STACK_*)", file=sys.stderr)
        return 2
    try:
        cfg = StackConfig.from_env()
        if args[0] == "down":
            down(cfg)
        elif StackRecord.load(cfg) is not None:  # never touch a stack this call did not start
            raise InputError("a stack is already recorded here", file=cfg.record_path,
                             fix="run `make stack-down` first (it stops what the record names)")
        else:
            try:
                up(cfg)
            except BaseException:
                print("stack: up failed; stopping what it started", file=sys.stderr)
                down(cfg, say=lambda m: print(m, file=sys.stderr))
                raise
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
