"""Serving commands: `models prepare|list`, `serve`, `generate`, `profile` (library: gpu/)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from releasegate.core import InputError
from ._cli_common import SERVING

console = Console()
err_console = Console(stderr=True)


def _serving_error(exc: Exception) -> None:
    """A runtime serving failure (not bad input): message, then exit 1."""
    err_console.print(f"[bold red]serving error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _parse_concurrency(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or any(c < 1 for c in levels):
        raise InputError(f"--concurrency {text!r} is not a list of positive integers", field="--concurrency",
                         fix="pass e.g. 1,2,4,8")
    return levels


def _entry_spec(scenario_ref: str | None, model: str, port_settings: dict) -> tuple[object, object]:
    """(ServerSpec, ModelEntry or None) for `serve`: a contract entry, or a bare model reference."""
    from releasegate.gpu import ServerSpec
    from releasegate.scenarios import ModelEntry, load_scenario

    if scenario_ref:
        loaded = load_scenario(scenario_ref)
        entry = loaded.scenario.model_entry(model)
    else:
        entry = ModelEntry(model=model, prompt_version="-", cost={"pricing": "gpu", "usd_per_hour": 0.0},
                           serving=port_settings)
    return ServerSpec.from_entry(entry), entry


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="Packaged models: convert (prepare) and list.", no_args_is_help=True)
    app.add_typer(models_app, name="models", rich_help_panel=SERVING)

    @models_app.command("prepare")
    def models_prepare(
        names: Annotated[Optional[list[str]], typer.Argument(help="Packaged model names (default: all)")] = None,
        force: Annotated[bool, typer.Option(help="Convert again even if prepared")] = False,
    ) -> None:
        """Convert the packaged GGUF models into HF folders (idempotent) and record their digests."""
        from releasegate.gpu import prepare_models

        prepare_models(names or None, force=force, echo=lambda m: console.print(m, highlight=False))

    @models_app.command("list")
    def models_list(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
        """Name, path, weight digest, prompt style and max length of each packaged model."""
        from releasegate.gpu import list_models

        rows = list_models()
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table("name", "prepared", "path", "digest", "prompt style", "max len")
        for r in rows:
            table.add_row(r["name"], "yes" if r["prepared"] else "no", r["path"],
                          r["digest"][:16] or "-", r["prompt_style"], str(r["max_model_len"]))
        console.print(table)

    @app.command("serve", rich_help_panel=SERVING)
    def serve(
        model: Annotated[Optional[str], typer.Argument(help="Model (packaged name, folder, hub id) or, with --scenario, an entry")] = None,
        scenario: Annotated[Optional[str], typer.Option(help="Take serving settings from this scenario's entry")] = None,
        alias: Annotated[Optional[str], typer.Option(help="With --scenario: serve the released version this alias holds, verified first (decision signatures, revocation, weights digest)")] = None,
        port: Annotated[Optional[int], typer.Option(help="Port (default: a free one)")] = None,
        host: Annotated[str, typer.Option(help="Interface")] = "127.0.0.1",
        dtype: Annotated[str, typer.Option(
            help="--dtype for vLLM (bfloat16 is served as float32 on a CPU without native bf16)")] = "bfloat16",
        max_model_len: Annotated[int, typer.Option(help="--max-model-len for vLLM")] = 2048,
        startup_timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness")] = 600.0,
    ) -> None:
        """Run a vLLM server in the foreground (Ctrl-C stops it); `generate` reuses it."""
        from releasegate.gpu import ServingError, VllmServer

        if alias is not None:  # what was released, verified (gateway stage)
            from releasegate.flows._cli_gateway import serve_alias

            serve_alias(scenario, alias, port=port, host=host, startup_timeout=startup_timeout)
            return
        if model is None:
            raise InputError("serve needs a MODEL, or --scenario with --alias", field="MODEL",
                             fix="e.g. `releasegate serve --scenario support-triage --alias champion`")

        spec, _ = _entry_spec(scenario, model, {"dtype": dtype, "max_model_len": max_model_len})
        server = VllmServer(spec, port=port, host=host, startup_timeout_s=startup_timeout, state_file=True)
        console.print(f"starting vLLM for {spec.served_name} ({spec.device}) on {server.base_url}; "
                      f"log {server.log_path}", highlight=False)
        try:
            endpoint = server.start()
            console.print(f"ready in {server.startup_s:.1f} s: {endpoint.base_url} (model {endpoint.model}); "
                          "Ctrl-C to stop", highlight=False)
            code = server.wait()
            err_console.print(f"vLLM exited with code {code}; log tail:\n{server.log_tail()}", highlight=False)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            console.print("stopping")
        except ServingError as exc:
            _serving_error(exc)
        finally:
            server.stop()

    @app.command("generate", rich_help_panel=SERVING)
    def generate(
        scenario: Annotated[str, typer.Option(help="Scenario id or path")],
        model: Annotated[str, typer.Option(help="Model entry of the contract, e.g. smollm2-v1")],
        endpoint: Annotated[Optional[list[str]], typer.Option(help="Attach to URL(s) (repeat for replicas)")] = None,
        limit: Annotated[Optional[int], typer.Option(help="Only the first N cases")] = None,
        out: Annotated[Optional[Path], typer.Option(help="Parquet output (default under state dir)")] = None,
        concurrency: Annotated[Optional[int], typer.Option(help="Override the entry's concurrency")] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore and do not fill the cache")] = False,
    ) -> None:
        """Generate records for a scenario's cases with one model entry (cached, resumable).

        With a runner configured (RELEASEGATE_RUNNER identity, or RELEASEGATE_RUNNER_KEY), the
        runner signs the records: <out>.att.json, a DSSE in-toto attestation that `evaluate
        --candidate-records` verifies (attested evidence). Without one they are self-declared."""
        import datetime as dt

        from releasegate.gpu import ServingError, generate_records
        from releasegate.core import state_dir
        from releasegate.releases import attest_records, evidence_inputs
        from releasegate.scenarios import load_dataset_for, load_scenario, write_records

        loaded = load_scenario(scenario)
        loaded.scenario.model_entry(model)  # unknown entry: InputError before any work
        dataset = load_dataset_for(loaded)
        path = out or state_dir() / "records" / loaded.scenario.id / f"{model}.parquet"
        _, runner = evidence_inputs(loaded, dataset.sha256, {"records": None})  # untrusted: refused before work
        started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        try:
            frame, meta = generate_records(loaded, dataset, model, endpoint=endpoint or None, limit=limit,
                                           cache=not no_cache, concurrency=concurrency, progress=True)
        except ServingError as exc:
            _serving_error(exc)
        write_records(frame, path, meta)
        attestation = attest_records(path, runner, started_at=started_at) if runner is not None else None
        counts = meta["counts"]
        ok = frame[frame["error"].isna()]
        console.print(
            f"{counts['cases']} cases: {counts['generated']} generated, {counts['cached']} cached, "
            f"{counts['errors']} errors; cost ${meta['cost']['total_usd']:.6f}; "
            f"latency p50 {ok['latency_s'].median():.2f} s -> {path}", highlight=False)
        console.print(f"attested by runner {runner.identity}: {attestation}" if runner is not None else
                      "self-declared: no runner configured (set RELEASEGATE_RUNNER to sign the records)",
                      highlight=False, soft_wrap=True)
        if counts["errors"]:
            sys.exit(1)

    @app.command("profile", rich_help_panel=SERVING)
    def profile(
        scenario: Annotated[str, typer.Option(help="Scenario id or path (prompts and latency SLO)")],
        model: Annotated[Optional[str], typer.Option(help="Model entry to serve and profile")] = None,
        endpoint: Annotated[Optional[str], typer.Option(help="Profile an existing endpoint instead")] = None,
        concurrency: Annotated[str, typer.Option(help="Comma-separated levels")] = "1,2,4,8",
        requests: Annotated[Optional[int], typer.Option(help="Requests per level (default 2 x level, >= 8)")] = None,
        max_tokens: Annotated[Optional[int], typer.Option(help="Default: the contract's max output tokens")] = None,
        target_rps: Annotated[float, typer.Option(help="Request rate to plan capacity for")] = 1.0,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the profile as JSON")] = None,
    ) -> None:
        """TTFT, inter-token and end-to-end latency (p50/p95/p99), throughput, goodput, capacity plan."""
        from releasegate.gpu import ServingError, profile_scenario
        from releasegate.scenarios import load_scenario

        levels = _parse_concurrency(concurrency)
        if not model and not endpoint:
            raise InputError("pass --model ENTRY or --endpoint URL", field="--model", fix="name what to profile")
        try:
            report = profile_scenario(
                load_scenario(scenario), entry_name=model, url=endpoint, concurrencies=levels,
                requests_per_level=requests, max_tokens=max_tokens, target_rps=target_rps,
                echo=lambda m: console.print(m, highlight=False),
                on_level=lambda lv: console.print(f"concurrency {lv.concurrency}: {lv.throughput_rps:.2f} req/s",
                                                  highlight=False))
        except ServingError as exc:
            _serving_error(exc)

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.0f}"

        table = Table("conc", "req", "err", "TTFT p50/p95/p99 ms", "ITL p50/p95/p99 ms", "e2e p50/p95/p99 ms",
                      "req/s", "tok/s", "goodput req/s", "SLO", title=f"profile of {report.model} at {report.endpoint}")
        for lv in report.levels:
            table.add_row(str(lv.concurrency), str(lv.requests), str(lv.errors),
                          "/".join(ms(lv.ttft_s[k]) for k in ("p50", "p95", "p99")),
                          "/".join(ms(lv.itl_s[k]) for k in ("p50", "p95", "p99")),
                          "/".join(ms(lv.latency_s[k]) for k in ("p50", "p95", "p99")),
                          f"{lv.throughput_rps:.2f}", f"{lv.output_tokens_per_s:.1f}", f"{lv.goodput_rps:.2f}",
                          "meets" if lv.meets_slo else "misses")
        console.print(table)
        if report.capacity:
            console.print(f"capacity for {target_rps} req/s: {report.capacity.note}", highlight=False)
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report.to_dict(), indent=2))
            console.print(f"JSON -> {json_out}", highlight=False)
