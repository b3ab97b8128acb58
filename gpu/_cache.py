"""Content-addressed generation cache (SQLite under `state_dir()/cache`).

Key: sha256 of the canonical JSON of (model digest or endpoint identity, server settings, prompt
style, rendered prompt, stop strings, sampling parameters, max tokens). Nothing else: not the
scenario, not the example id, not the time. So the same prompt to the same weights with the same
settings is generated once, whichever scenario or run asks.

Each finished request is committed at once (autocommit, WAL), so a crash or a killed server loses
only the requests in flight, and a rerun skips everything that finished. Failed requests are never
cached: a rerun retries them.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from releasegate.core import state_dir


def cache_key(model_identity: dict[str, Any], prompt: Any, sampling: dict[str, Any], max_tokens: int) -> str:
    payload = {
        "model": model_identity,
        "style": prompt.style,
        "prompt": prompt.cache_text(),
        "stop": list(prompt.stop),
        "sampling": sampling,
        "max_tokens": max_tokens,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class GenerationCache:
    """`get(key)` / `put(key, record)` / `set_cost(key, usd)`; one connection per instance."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else state_dir() / "cache" / "generations.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, each put is durable on return.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations ("
            " key TEXT PRIMARY KEY, record TEXT NOT NULL, cost_usd REAL, created_at REAL NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT record, cost_usd FROM generations WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        record["cost_usd"] = row[1]
        return record

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, record, cost in self._db.execute(
                    f"SELECT key, record, cost_usd FROM generations WHERE key IN ({marks})", chunk):
                found[key] = {**json.loads(record), "cost_usd": cost}
        return found

    def put(self, key: str, record: dict[str, Any], cost_usd: float | None = None) -> None:
        self._db.execute("INSERT OR REPLACE INTO generations (key, record, cost_usd, created_at) "
                         "VALUES (?, ?, ?, ?)", (key, json.dumps(record, sort_keys=True), cost_usd, time.time()))

    def set_costs(self, costs: dict[str, float]) -> None:
        """Record the cost allocated to freshly generated entries once the run's cost is known."""
        with self._db:
            self._db.executemany("UPDATE generations SET cost_usd = ? WHERE key = ?",
                                 [(usd, key) for key, usd in costs.items()])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self._db.close()
