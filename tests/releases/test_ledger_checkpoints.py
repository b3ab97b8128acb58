"""Attacks by someone who can write the ledger database, caught by one earlier signed checkpoint.

Each attack leaves an internally consistent chain (every hash recomputed, the head row fixed), so
the chain alone says "intact"; the checkpoint kept outside the database must name the first row
that diverges. Forged privileged rows are caught by the actor signature check.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from releases_fixtures import INTRUDER, PRODUCT
from sqlalchemy import delete, text
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.releases import Ledger
from releasegate.releases._actors import ActorSigner, sign_event
from releasegate.releases._checkpoints import (
    DEFAULT_LEDGER_IDENTITY,
    verify_ledger,
    write_checkpoint,
)
from releasegate.releases._keys import Keyring, generate_key, load_private_key, private_key_path
from releasegate.releases._ledger import (
    GENESIS_HASH,
    LedgerEvent,
    _canonical,
    event_hash,
    events_table,
    head_table,
)
from releasegate.core import canonical_json


@pytest.fixture
def ledger(home: Path) -> Ledger:
    for identity in (DEFAULT_LEDGER_IDENTITY, PRODUCT, INTRUDER):
        generate_key(identity)
    return Ledger.open()


def _fill(ledger: Ledger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        ledger.append("evaluated" if i % 2 == 0 else "synced", "support-triage", {"i": i, "note": "ünï"},
                      subject=f"d{i}", actor="ci")


def _checkpoint(ledger: Ledger) -> None:
    result = write_checkpoint(ledger, mlflow=False)
    assert result.checkpoint is not None and not result.errors, result


def _rewrite(ledger: Ledger, events: list[LedgerEvent]) -> None:
    """The attacker: replace every row with `events`, renumbered and rechained from genesis."""
    prev = GENESIS_HASH
    with ledger.engine.begin() as conn:
        conn.execute(delete(events_table))
        for seq, ev in enumerate(events, 1):
            ev = dataclasses.replace(ev, seq=seq, prev_hash=prev)
            ev = dataclasses.replace(ev, hash=event_hash(prev, ev.content(), ev.canon))
            conn.execute(events_table.insert().values(
                seq=ev.seq, event_id=ev.event_id, scenario_id=ev.scenario_id, event_type=ev.event_type,
                subject=ev.subject, actor=ev.actor, created_at=ev.created_at,
                payload=canonical_json(ev.payload).decode(), prev_hash=ev.prev_hash, hash=ev.hash,
                canon=ev.canon, actor_signature=json.dumps(ev.actor_signature) if ev.actor_signature else None))
            prev = ev.hash
        conn.execute(head_table.update().values(seq=len(events), hash=prev))


def _verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ledger", "verify", "--no-mlflow", *args])
    return result.exit_code, result.output


def test_honest_ledger_with_many_checkpoints_verifies(ledger: Ledger) -> None:
    for rounds, n in enumerate((3, 1, 40, 2, 5)):  # 40 rows: a checkpoint without the row list
        _fill(ledger, n, start=rounds * 100)
        _checkpoint(ledger)
    assert write_checkpoint(ledger, mlflow=False).skipped  # nothing new: no second checkpoint
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == [] and len(result.checkpoints) == 5 and result.rows == 51
    code, output = _verify()
    assert code == 0 and "ledger intact: 51 rows, 5 checkpoints" in output


def test_without_a_checkpoint_a_rechained_ledger_looks_intact(ledger: Ledger) -> None:
    # Why checkpoints exist: the chain alone cannot see a recomputed history.
    _fill(ledger, 6)
    events = ledger.events()
    _rewrite(ledger, events[:3] + events[4:])
    assert ledger.verify() == []
    code, output = _verify()
    assert code == 0 and "no signed checkpoint found" in output
    assert _verify("--require-checkpoint")[0] == 1


def test_tail_truncation_with_fixed_head_is_caught(ledger: Ledger) -> None:
    _fill(ledger, 10)
    _checkpoint(ledger)
    _rewrite(ledger, ledger.events()[:7])  # rows 8..10 cut, head fixed to row 7
    assert ledger.verify() == []
    code, output = _verify()
    assert code == 1
    assert "the ledger ends at row 7 but checkpoint" in output and "first diverging row: seq 8" in output


@pytest.mark.parametrize(("attack", "first"), [
    ("edit", 4), ("erase_range", 3), ("swap", 5), ("insert", 6),
])
def test_rechained_history_is_caught(ledger: Ledger, attack: str, first: int) -> None:
    _fill(ledger, 4)
    _checkpoint(ledger)
    _fill(ledger, 6, start=4)
    _checkpoint(ledger)
    events = ledger.events()
    if attack == "edit":
        events[3] = dataclasses.replace(events[3], payload={**events[3].payload, "i": 99})
    elif attack == "erase_range":
        events = events[:2] + events[5:]
    elif attack == "swap":
        events[4], events[5] = events[5], events[4]
    else:
        events.insert(5, dataclasses.replace(events[0], event_id="forged", payload={"i": -1}))
    _rewrite(ledger, events)
    assert ledger.verify() == []  # the chain alone is fooled
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.first_divergence == first
    assert f"first diverging row: seq {first}" in result.problems


def test_auditors_saved_checkpoint_catches_a_rewrite_after_the_folder_is_wiped(ledger: Ledger, home: Path) -> None:
    _fill(ledger, 5)
    _checkpoint(ledger)
    folder = home / "state" / "checkpoints"
    saved = home / "auditor-copy.json"
    shutil.copy(sorted(folder.glob("checkpoint-*.json"))[-1], saved)
    shutil.rmtree(folder)  # the attacker also wipes what they can reach
    events = ledger.events()
    events[1] = dataclasses.replace(events[1], payload={"i": 1, "note": "rewritten"})
    _rewrite(ledger, events)
    assert _verify()[0] == 0  # nothing left to compare with
    code, output = _verify("--checkpoint", str(saved))
    assert code == 1 and "first diverging row: seq 2" in output  # the saved copy lists every row hash


def test_checkpoint_not_signed_by_the_ledger_key_is_refused(ledger: Ledger, home: Path) -> None:
    from releasegate.releases._checkpoints import build_checkpoint, parse_checkpoint

    _fill(ledger, 3)
    forged = build_checkpoint(ledger, load_private_key(private_key_path(INTRUDER)), None)
    path = home / "forged.json"
    path.write_text(json.dumps(forged))
    code, output = _verify("--checkpoint", str(path))
    assert code == 1 and "is not signed by the ledger key releasegate-ledger" in output
    assert parse_checkpoint(forged, "x").seq == 3


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"payloadType": "x", "signatures": []}'])
def test_malformed_checkpoint_file_is_bad_input(ledger: Ledger, home: Path, content: str) -> None:
    from releasegate.core import InputError

    path = home / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match="bad.json: --checkpoint: not a releasegate ledger checkpoint|bad.json: "
                       "--checkpoint: checkpoint file is not JSON") as caught:
        CliRunner().invoke(app, ["ledger", "verify", "--no-mlflow", "--checkpoint", str(path)],
                           catch_exceptions=False)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_forged_privileged_append_with_any_actor_is_caught(ledger: Ledger) -> None:
    keyring = Keyring.load()
    ledger.signer = ActorSigner.from_key(load_private_key(private_key_path(PRODUCT)), keyring)
    ledger.append("approved", "support-triage", {"role": "product"}, subject="d")
    assert verify_ledger(ledger, use_mlflow=False).problems == []
    ledger.signer = None
    # 1. a chained, unsigned row claiming the product owner
    forged = ledger.append("promoted", "support-triage", {"alias": "champion", "version": "9"},
                           actor=PRODUCT)
    assert forged.actor_signature is None
    problems = verify_ledger(ledger, use_mlflow=False).problems
    assert problems == [f"row 2 (promoted, actor '{PRODUCT}'): privileged event not signed by its actor"]
    # 2. signed by the intruder's own key, claiming the product owner
    intruder = ActorSigner(load_private_key(private_key_path(INTRUDER)), PRODUCT)
    ledger.append("promoted", "support-triage", {"alias": "champion", "version": "9"}, signer=intruder)
    problems = verify_ledger(ledger, use_mlflow=False).problems
    assert any(p.startswith("row 3 (promoted") and "not the actor's key" in p for p in problems)
    # 3. an honest signed row copied to another place in the chain: the signature covers seq and prev_hash
    events = ledger.events()
    _rewrite(ledger, [events[0], events[0].__class__(**{**events[0].__dict__, "event_id": "copy"})])
    problems = verify_ledger(ledger, use_mlflow=False).problems
    assert any("row 2 (approved" in p and "does not verify" in p for p in problems)


def test_rows_in_the_legacy_scheme_still_verify(ledger: Ledger) -> None:
    # Rows written before RFC 8785: `canon` NULL, hashed with sorted-key json.dumps.
    prev = GENESIS_HASH
    with ledger.engine.begin() as conn:
        for seq in (1, 2):
            ev = LedgerEvent(seq, f"old-{seq}", "support-triage", "evaluated", None, "ci",
                             "2026-01-01T00:00:00+00:00", {"rate": 0.5, "n": seq}, prev, "")
            ev = dataclasses.replace(ev, hash=event_hash(prev, ev.content()))
            conn.execute(events_table.insert().values(
                seq=seq, event_id=ev.event_id, scenario_id=ev.scenario_id, event_type=ev.event_type,
                subject=None, actor="ci", created_at=ev.created_at, payload=_canonical(ev.payload),
                prev_hash=prev, hash=ev.hash))
            prev = ev.hash
        conn.execute(head_table.update().values(seq=2, hash=prev))
    _fill(ledger, 2)
    events = ledger.events()
    assert [e.canon for e in events] == [None, None, "rfc8785", "rfc8785"]
    assert ledger.verify() == []
    # a downgraded row (an RFC 8785 row rewritten in the legacy scheme) is refused
    events[3] = dataclasses.replace(events[3], canon=None)
    _rewrite(ledger, events)
    assert ledger.verify() == ["row 4 (synced): legacy canonicalisation after RFC 8785 rows "
                               "(a downgraded, rewritten row)"]
