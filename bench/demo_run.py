"""Wall time and peak memory of `make demo` on a fresh clone of this repository.

Clones the committed HEAD into a temporary folder and runs `make demo` there under
/usr/bin/time -v (peak memory = the largest resident set of any one process in the run, as
GNU time reports it), plus a sampler of the whole process tree's summed RSS every 0.5 s.
Writes its section of bench/RESULTS.md.

    .venv/bin/python bench/demo_run.py [--limit N] [--keep]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402


def _tree_rss(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="DEMO_LIMIT (default: the demo's own)")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args()

    clone = Path(tempfile.mkdtemp(prefix="rg-demo-"))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout.strip()
    # demo keys outside the clone: releasegate refuses to write private keys into a repository
    keys = Path(tempfile.mkdtemp(prefix="rg-demo-keys-"))
    env = {**os.environ, "RELEASEGATE_KEYS_DIR": str(keys)}
    env.pop("RELEASEGATE_HOME", None)
    if args.limit is not None:
        env["DEMO_LIMIT"] = str(args.limit)
    log = clone / "demo.log"
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(["/usr/bin/time", "-v", "make", "demo"], cwd=clone, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss(proc.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.monotonic() - start
    text = log.read_text()
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    peak_one = int(match.group(1)) / 1024 if match else float("nan")
    demo_s = re.search(r"Done in (\d+) s", text)
    body = "\n".join([
        "## `make demo` on a fresh clone (issue 6)", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {head}, {os.cpu_count()} cores, "
        f"DEMO_LIMIT={env.get('DEMO_LIMIT', 'default')}; exit code {code}.", "",
        "Command: `.venv/bin/python bench/demo_run.py" + (f" --limit {args.limit}" if args.limit is not None else "")
        + "`", "",
        "| measure | value |", "|---|---|",
        f"| wall time, all of `make demo` (both environments, model conversion, the story) | {wall:.0f} s |",
        f"| wall time of the story itself (flows/demo.sh) | {demo_s.group(1) + ' s' if demo_s else 'n/a'} |",
        f"| peak memory, largest single process (GNU time) | {peak_one:.0f} MiB |",
        f"| peak memory, whole process tree (sampled every 0.5 s) | {peak_tree / 2**20:.0f} MiB |",
    ])
    write_section("demo", body)
    print(body)
    print(f"log: {log}")
    shutil.rmtree(keys, ignore_errors=True)
    if not args.keep and code == 0:
        shutil.rmtree(clone, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
