"""vLLM server lifecycle (CPU and GPU) and endpoints (managed, reused or attached).

vLLM runs in its own environment (FACTS.md: it cannot share the pipeline's) as
`python -m vllm.entrypoints.openai.api_server`; we only ever talk to it over HTTP. A managed
server runs in its own process group (start_new_session) so that stopping it takes vLLM's
engine workers too: on normal exit, on an exception, on Ctrl-C (KeyboardInterrupt reaches the
context manager), on SIGTERM/SIGHUP (turned into SystemExit) and at interpreter exit (atexit).

`releasegate serve` leaves a state file in `state_dir()/servers/<name>.json`; `generate` reuses a
live server whose model digest and settings match instead of starting a second one (two vLLM CPU
servers on a 2-core machine contend: FACTS.md).
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from releasegate.core import InputError, atomic_write_text, state_dir

from ._models import ResolvedModel, resolve_model, vllm_python


_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 flags; "bf16" on aarch64


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (x86 `flags`, aarch64 `Features`); empty when they cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_dtype(requested: str, flags: frozenset[str] | None = None) -> str:
    """The dtype vLLM's CPU build is started with for an entry asking for `requested`.

    bfloat16 without native bf16 instructions (an AVX2-only CPU, e.g. the AMD EPYC some of our
    machines have) is emulated: SmolLM2-135M generated 8 x 64 tokens in 23.3 s as bfloat16 and in
    8.7 s as float32 there, and the demo's long prompts ran at about 1 generated token/s. Such a CPU
    serves float32 instead; `ServerSpec.settings()` (cache key, records' meta) names what was served.
    Unknown flags (not Linux) keep the request."""
    flags = cpu_flags() if flags is None else flags
    if requested == "bfloat16" and flags and not flags & _BF16_CPU_FLAGS:
        return "float32"
    return requested


class ServingError(RuntimeError):
    """The server failed at runtime (startup crash, readiness timeout). Not bad input: exit 1."""


def detect_device() -> str:
    """'gpu' when an NVIDIA GPU answers `nvidia-smi -L`, else 'cpu' ($RELEASEGATE_DEVICE overrides)."""
    forced = os.environ.get("RELEASEGATE_DEVICE")
    if forced in ("cpu", "gpu"):
        return forced
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "cpu"
    return "gpu" if done.returncode == 0 and b"GPU" in done.stdout else "cpu"


@dataclass(frozen=True)
class ServerSpec:
    """Everything that decides what a vLLM server computes, derived from a contract entry."""

    model: ResolvedModel
    served_name: str
    device: str = "cpu"
    dtype: str = "bfloat16"
    max_model_len: int = 2048
    enforce_eager: bool = True
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int | None = None
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.device == "cpu":  # every CPU spec, from a contract entry or built directly (bench/)
            object.__setattr__(self, "dtype", cpu_dtype(self.dtype))

    @classmethod
    def from_entry(cls, entry: Any, *, device: str | None = None, served_name: str | None = None) -> ServerSpec:
        """A contract `ModelEntry` -> spec (eager by default on CPU: FACTS.md, compiled path was wrong)."""
        model = resolve_model(entry.model)
        device = device or detect_device()
        serving = entry.serving
        eager = serving.enforce_eager if serving.enforce_eager is not None else device == "cpu"
        max_len = serving.max_model_len
        if model.max_model_len:
            max_len = min(max_len, model.max_model_len)
        return cls(model=model, served_name=served_name or _served_name(entry.model), device=device,
                   dtype=serving.dtype,
                   max_model_len=max_len, enforce_eager=eager,
                   tensor_parallel_size=serving.tensor_parallel_size,
                   gpu_memory_utilization=serving.gpu_memory_utilization,
                   max_num_seqs=serving.max_num_seqs, extra_args=tuple(serving.extra_args))

    def settings(self) -> dict[str, Any]:
        """The settings that can change generated text: part of the cache key and the records' meta."""
        return {"device": self.device, "dtype": self.dtype, "max_model_len": self.max_model_len,
                "enforce_eager": self.enforce_eager, "tensor_parallel_size": self.tensor_parallel_size,
                "extra_args": list(self.extra_args)}

    def argv(self, host: str, port: int) -> list[str]:
        args = ["-m", "vllm.entrypoints.openai.api_server", "--model", self.model.path,
                "--served-model-name", self.served_name, "--host", host, "--port", str(port),
                "--dtype", self.dtype, "--max-model-len", str(self.max_model_len)]
        if self.enforce_eager:
            args.append("--enforce-eager")
        if self.device == "gpu":
            args += ["--tensor-parallel-size", str(self.tensor_parallel_size),
                     "--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.max_num_seqs:
            args += ["--max-num-seqs", str(self.max_num_seqs)]
        return args + list(self.extra_args)


def _served_name(ref: str) -> str:
    return Path(ref).name if Path(ref).expanduser().is_dir() else ref


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint: `base_url` ends in /v1."""

    base_url: str
    model: str  # the model id to put in requests
    api_key: str | None = None
    kind: str = "attached"  # "managed" (we started it) | "reused" (`releasegate serve`) | "attached"
    model_digest: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def root_url(self) -> str:
        """Where /metrics and /health live (the URL without /v1)."""
        return self.base_url.removesuffix("/").removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def server_version(endpoint: Endpoint, timeout_s: float = 3.0) -> str | None:
    """vLLM's version from its `/version` route (provenance for the report); None elsewhere."""
    import httpx

    try:
        response = httpx.get(endpoint.root_url + "/version", headers=endpoint.headers(), timeout=timeout_s)
        return str(response.json()["version"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def normalize_base_url(url: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"endpoint {url!r} is not an http(s) URL", field="--endpoint",
                         fix="pass e.g. http://127.0.0.1:8000/v1")
    return url if url.endswith("/v1") else url + "/v1"


def api_key_from_env(name: str | None) -> str | None:
    """The key named in the contract's `api_key_env`; a named but unset variable is bad input."""
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise InputError(f"environment variable {name} is not set", field="api_key_env",
                         fix=f"export {name}=<API key> (the contract names the variable, never the key)")
    return value


def attach(url: str, *, model: str | None = None, api_key_env: str | None = None,
           model_digest: str = "", timeout_s: float = 10.0) -> Endpoint:
    """Attach to an existing endpoint; checks it answers /v1/models (else InputError)."""
    base = normalize_base_url(url)
    key = api_key_from_env(api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(base + "/models", headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise InputError(f"endpoint {base} is unreachable ({type(exc).__name__})", field="--endpoint",
                         fix="start the server (`releasegate serve MODEL`) or check the URL") from None
    if response.status_code in (401, 403):
        raise InputError(f"endpoint {base} refused the API key (HTTP {response.status_code})",
                         field="api_key_env", fix="check the key in the named environment variable")
    if response.status_code != 200:
        raise InputError(f"endpoint {base} answered HTTP {response.status_code} on /models",
                         field="--endpoint", fix="point at an OpenAI-compatible base URL")
    served = [m.get("id") for m in response.json().get("data", [])]
    if model in served:
        chosen = model
    elif len(served) == 1:
        chosen = served[0]  # one model, served under another name (e.g. its folder path)
    else:
        raise InputError(f"endpoint {base} serves {served}, not {model!r}", field="model",
                         fix="set the entry's model to one of the served ids")
    # settings name the model as asked (not as served) so the cache identity is known without a probe
    return Endpoint(base_url=base, model=chosen, api_key=key, kind="attached", model_digest=model_digest,
                    settings={"endpoint": base, "model": model or chosen})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def servers_dir() -> Path:
    path = state_dir() / "servers"
    path.mkdir(parents=True, exist_ok=True)
    return path


# Servers started by this process, stopped at exit whatever happens.
_LIVE: set[VllmServer] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


atexit.register(_stop_all)
_signals_installed = False


def _install_signal_handlers() -> None:
    """SIGTERM/SIGHUP -> SystemExit so `with` blocks and atexit run (default action kills at once)."""
    global _signals_installed
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit_on_signal)
    _signals_installed = True


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


class VllmServer:
    """A managed vLLM server: `with VllmServer(spec) as endpoint: ...` (stopped on any exit)."""

    def __init__(self, spec: ServerSpec, *, port: int | None = None, host: str = "127.0.0.1",
                 startup_timeout_s: float = 600.0, state_file: bool = False,
                 log_path: Path | None = None, env: dict[str, str] | None = None) -> None:
        if port is not None and port_in_use(port, host):
            raise InputError(f"port {port} on {host} is already in use", field="--port",
                             fix="choose another port or leave --port out to pick a free one")
        self.spec = spec
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout_s = startup_timeout_s
        self.write_state_file = state_file
        self.log_path = log_path or servers_dir() / f"{spec.served_name}-{self.port}.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self._state_path = servers_dir() / f"{spec.served_name}.json"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def endpoint(self, kind: str = "managed") -> Endpoint:
        return Endpoint(base_url=self.base_url, model=self.spec.served_name, kind=kind,
                        model_digest=self.spec.model.digest, settings=self.spec.settings())

    def start(self) -> Endpoint:
        python = vllm_python()
        if not python.exists():
            raise InputError(f"serving environment not found: {python}", field="RELEASEGATE_VLLM_PYTHON",
                             fix="run `make serving` or point RELEASEGATE_VLLM_PYTHON at its python")
        _install_signal_handlers()
        env = {**os.environ, **self.extra_env}
        if self.spec.model.source != "hub":  # local weights: never reach for the hub (FACTS.md)
            env.setdefault("HF_HUB_OFFLINE", "1")
        if self.spec.device == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; FACTS.md: fits this machine
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        started = time.monotonic()
        # Own session/process group: killpg reaches the engine-core workers vLLM forks.
        self.process = subprocess.Popen([str(python), *self.spec.argv(self.host, self.port)],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, start_new_session=True)
        log.close()
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        if self.write_state_file:
            self._write_state()
        return self.endpoint()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServingError(f"vLLM exited with code {self.process.returncode} during startup; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/models", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ServingError(f"vLLM not ready after {self.startup_timeout_s:.0f} s; log {self.log_path}:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The server and every descendant still alive (for stop() and for tests)."""
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid] + [c.pid for c in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `grace_s`. Idempotent."""
        process = self.process
        if process is None:
            return
        survivors = self.pids()
        if process.poll() is None:
            _killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        _killpg(process.pid, signal.SIGKILL)
        process.wait()
        # Descendants that left the group (setsid) are killed by pid.
        for pid in survivors:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
        psutil.wait_procs([p for p in map(_proc, survivors) if p], timeout=5)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.write_state_file:
            self._state_path.unlink(missing_ok=True)
        self.process = None

    def kill(self) -> None:
        """SIGKILL at once (tests: a server that dies mid-run)."""
        if self.process is not None:
            _killpg(self.process.pid, signal.SIGKILL)

    def _write_state(self) -> None:
        state = {"url": self.base_url, "pid": self.process.pid if self.process else None,
                 "model": self.spec.model.ref, "served_name": self.spec.served_name,
                 "model_digest": self.spec.model.digest, "settings": self.spec.settings(),
                 "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(self._state_path, json.dumps(state, indent=2, sort_keys=True))

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, on_exit: Callable[[int], None] | None = None) -> int:
        """Block until the server exits (foreground `releasegate serve`)."""
        assert self.process is not None
        code = self.process.wait()
        if on_exit:
            on_exit(code)
        return code


def _proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # pid == pgid: start_new_session made it the group leader
    except (ProcessLookupError, PermissionError):
        pass


def find_running_server(spec: ServerSpec) -> Endpoint | None:
    """A live `releasegate serve` server for the same weights and settings, or None.

    Stale state files (dead pid, no answer) are removed.
    """
    path = servers_dir() / f"{spec.served_name}.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    alive = state.get("pid") and psutil.pid_exists(state["pid"])
    if alive:
        try:
            alive = httpx.get(state["url"] + "/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            alive = False
    if not alive:
        path.unlink(missing_ok=True)
        return None
    if state.get("model_digest") != spec.model.digest or state.get("settings") != spec.settings():
        return None
    return Endpoint(base_url=state["url"], model=state["served_name"], kind="reused",
                    model_digest=spec.model.digest, settings=spec.settings())


class ServerPool:
    """vLLM servers started on first need and kept until the pool closes: one per weights and
    settings (`ServerSpec`).

    One evaluation asks for a server several times: the incumbent and the candidate (often two
    prompts on the same weights), each of k repeats, each sequential batch. Started per call, vLLM
    would start that many times (20-60 s each on CPU, minutes under load). A live `releasegate
    serve` server is reused first; a call with everything cached asks for nothing and starts nothing.
    `with ServerPool() as servers: generate_records(..., servers=servers)`.
    """

    def __init__(self, startup_timeout_s: float = 600.0) -> None:
        self.startup_timeout_s = startup_timeout_s
        self._started: dict[ServerSpec, VllmServer] = {}
        self._lock = threading.Lock()

    def endpoint(self, spec: ServerSpec, *, echo: Callable[[str], None] | None = None
                 ) -> tuple[Endpoint, float | None]:
        """(endpoint serving `spec`, startup seconds if this call started it, else None); a start
        is said through `echo`."""
        with self._lock:  # replicas of one call, or two tasks, never start the same weights twice
            server = self._started.get(spec)
            if server is not None and server.process is not None and server.process.poll() is None:
                return server.endpoint(), None
            if server is not None:  # died since (a task retry asks again): start it anew
                server.stop()
                del self._started[spec]
            reused = find_running_server(spec)
            if reused is not None:
                return reused, None
            if echo is not None:
                echo(f"starting vLLM for {spec.served_name}")
            server = VllmServer(spec, startup_timeout_s=self.startup_timeout_s)
            endpoint = server.start()
            self._started[spec] = server
            return endpoint, server.startup_s

    @property
    def started(self) -> int:
        """How many servers this pool started (and will stop)."""
        return len(self._started)

    def close(self) -> None:
        with self._lock:
            for server in self._started.values():
                server.stop()
            self._started.clear()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
