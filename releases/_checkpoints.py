"""Signed ledger checkpoints, kept outside the database (a transparency-log style tree head).

Whoever can write the ledger database can cut rows off the end and fix the head row, or edit a
row and recompute every hash after it: the hash chain alone only catches naive edits. A
checkpoint is a statement by the ledger's own key (never an actor's) that the ledger's row `seq`
has hash `head_hash`; because each row's hash covers every row before it, one checkpoint pins the
whole prefix 1..seq. Checkpoints chain too (`previous` = sha256 of the previous checkpoint's
payload), and carry the row hashes since the previous one when there are few (after an alias
move there are a handful), so `ledger verify` can name the first row that diverges.

A checkpoint is a DSSE envelope (payloadType `application/vnd.releasegate.checkpoint+json`),
published where the database's writers cannot rewrite it:
- a directory (`RELEASEGATE_CHECKPOINT_DIR`, default `state_dir()/checkpoints`), one file per
  checkpoint, created exclusively (never overwritten); make it append-only with object lock /
  WORM storage, `chattr +a`, or by pushing it to a protected branch;
- a tag on the scenario's registered model in MLflow (`releasegate.checkpoint.<seq>`, and
  `releasegate.checkpoint` for the latest).
The ledger key: `RELEASEGATE_LEDGER_KEY` (a PEM file) or `keys_dir()/<ledger identity>.pem`. Which
public keys may sign checkpoints is anchored outside what the database's and the repository's
writers control (`ledger_public_keys`): the pinned portfolio root's ledger keys; else
`RELEASEGATE_LEDGER_PUBKEY` (a PEM, a path outside the checkout, or `sha256:<fingerprint>`: a
protected CI variable); only as a last resort the keyring entry of the ledger identity
(`RELEASEGATE_LEDGER_IDENTITY`, default `releasegate-ledger`), which `ledger verify` then says
plainly. A key pasted into a checkpoint file is never trusted.

Privileged rows' actor signatures are checked per row (`ActorAuthority`): against the keys of the
row's scenario's signed root version in force at that row, the portfolio root for portfolio-level
rows, and the keyring only for scenarios without a root (never in root-required mode).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releasegate.core import (
    InputError,
    Refused,
    atomic_write_bytes,
    canonical_json,
    keys_dir,
    load_json_bounded,
    state_dir,
)

from ._actors import ActorKeys, actor_problem, is_privileged, keyring_actor_keys
from ._dsse import check_signatures, envelope_payload, make_envelope, sign_envelope, signature_valid
from ._keys import Keyring, fingerprint, load_private_key, parse_public_key
from ._trust import (
    PIN_ENV,
    PORTFOLIO_SCOPE,
    SCENARIO_EVENT,
    PortfolioRoot,
    ScenarioRoot,
    _pin,
    _public,
    portfolio_chain,
    root_required,
    scenario_chain,
)

if TYPE_CHECKING:
    from ._ledger import Ledger, LedgerEvent

CHECKPOINT_PAYLOAD_TYPE = "application/vnd.releasegate.checkpoint+json"
CHECKPOINT_TYPE = "https://releasegate.dev/ledger-checkpoint/v1"
DEFAULT_LEDGER_IDENTITY = "releasegate-ledger"
# Row hashes since the previous checkpoint are embedded up to this many (after an alias move
# there are a handful); the envelope then still fits an MLflow registry tag (5,000 characters).
MAX_ROWS_IN_CHECKPOINT = 32
MAX_CHECKPOINT_BYTES = 64 * 1024
MLFLOW_TAG = "releasegate.checkpoint"


def ledger_identity() -> str:
    return os.environ.get("RELEASEGATE_LEDGER_IDENTITY") or DEFAULT_LEDGER_IDENTITY


def ledger_key_path(ledger: Ledger | None = None) -> Path:
    """`RELEASEGATE_LEDGER_KEY`; else the key of the ledger identity the portfolio root names
    (when this machine holds it and `RELEASEGATE_LEDGER_IDENTITY` does not say otherwise); else
    `keys_dir()/<ledger identity>.pem`."""
    env = os.environ.get("RELEASEGATE_LEDGER_KEY")
    if env:
        return Path(env)
    if ledger is not None and not os.environ.get("RELEASEGATE_LEDGER_IDENTITY"):
        try:
            chain = portfolio_chain(ledger)
        except Refused:
            chain = []
        for ident in chain[-1].ledger_keys() if chain else ():
            if (keys_dir() / f"{ident}.pem").is_file():
                return keys_dir() / f"{ident}.pem"
    return keys_dir() / f"{ledger_identity()}.pem"


def ledger_signing_key(ledger: Ledger | None = None) -> Ed25519PrivateKey | None:
    """The ledger's private key, or None when none is configured (checkpoints are then skipped)."""
    path = ledger_key_path(ledger)
    if not path.exists():
        if os.environ.get("RELEASEGATE_LEDGER_KEY"):
            raise InputError("no such file", file=path, field="RELEASEGATE_LEDGER_KEY",
                             fix="point it at the ledger's private key, or unset it")
        return None
    return load_private_key(path)


LEDGER_PUBKEY_ENV = "RELEASEGATE_LEDGER_PUBKEY"
MAX_PUBKEY_BYTES = 16 * 1024
WORKING_TREE_ANCHOR = ("checkpoints are anchored in the working tree (keyring.yaml): pin a portfolio root "
                       f"(RELEASEGATE_TRUST_ROOT) that names the ledger key, or set {LEDGER_PUBKEY_ENV}")


@dataclass(frozen=True)
class LedgerKeys:
    """The public keys allowed to sign checkpoints, where they come from, and a warning when that
    place is one the database's or the repository's writers control."""

    keys: dict[str, Ed25519PublicKey]  # fingerprint -> key
    anchor: str
    note: str | None = None


def _pem_public_key(text: str, source: str) -> Ed25519PublicKey:
    try:  # the keyring's strict reading: one PEM block, Ed25519, no second key pasted after it
        return parse_public_key(text, file=source, field=LEDGER_PUBKEY_ENV)
    except InputError as exc:
        raise InputError(f"not an Ed25519 public key in PEM ({exc.message})", file=source, field=LEDGER_PUBKEY_ENV,
                         fix="give the ledger key's public PEM (`releasegate keys show`), a path to it, or "
                             "sha256:<its fingerprint>") from None


def pinned_ledger_keys(keyring: Keyring) -> LedgerKeys | None:
    """The ledger's public key given outside the working tree (`RELEASEGATE_LEDGER_PUBKEY`, e.g. a
    protected CI variable): a PEM, a path to one outside this checkout, or `sha256:<fingerprint>`,
    which pins the keyring's key with that fingerprint (an edited keyring then has no such key)."""
    from releasegate.core import decode_utf8, project_root, read_bytes_bounded

    value = os.environ.get(LEDGER_PUBKEY_ENV, "").strip()
    if not value:
        return None
    if value.startswith("sha256:"):
        fp = value.removeprefix("sha256:").lower()
        if not _hex64(fp):
            raise InputError("a fingerprint pin is sha256: and 64 hex digits", field=LEDGER_PUBKEY_ENV,
                             fix="copy the ledger key's fingerprint from `releasegate keys list`")
        entry = keyring.by_fingerprint(fp)
        anchor = f"{LEDGER_PUBKEY_ENV} (sha256:{fp[:16]})"
        if entry is None:
            return LedgerKeys({}, f"{anchor}, which the keyring {keyring.path} does not hold (edited?)")
        return LedgerKeys({fp: entry.key()}, anchor)
    if value.startswith("-----BEGIN"):
        key = _pem_public_key(value, LEDGER_PUBKEY_ENV)
    else:
        path = Path(value).expanduser().resolve()
        if path.is_relative_to(project_root().resolve()):
            raise InputError("the ledger's public key is inside the working tree, which the repository's writers "
                             "control", file=path, field=LEDGER_PUBKEY_ENV,
                             fix="keep it outside the checkout (a protected CI variable or file), or pin a "
                                 "portfolio root")
        data = read_bytes_bounded(path, max_bytes=MAX_PUBKEY_BYTES, what="ledger public key")
        key = _pem_public_key(decode_utf8(data, file=path, what="ledger public key"), str(path))
    fp = fingerprint(key)
    return LedgerKeys({fp: key}, f"{LEDGER_PUBKEY_ENV} (sha256:{fp[:16]})")


def ledger_public_keys(keyring: Keyring, ledger: Ledger | None = None) -> LedgerKeys:
    """Every key allowed to sign checkpoints; never a key found in a checkpoint file. In order:
    a pinned portfolio root's ledger keys (every version: checkpoints signed before a rotation
    stay verifiable), `RELEASEGATE_LEDGER_PUBKEY`, an unpinned portfolio root's, and as a last
    resort the keyring entry of the ledger identity (said plainly by `ledger verify`)."""
    env = pinned_ledger_keys(keyring)
    chain = []
    if ledger is not None:
        try:
            chain = portfolio_chain(ledger)
        except Refused:  # a broken portfolio chain is the actor checks' finding
            chain = []
    named = {fingerprint(k): k for root in chain for k in root.ledger_keys().values()}
    if named and _pin():
        if env is not None and not set(env.keys) & set(named):
            raise InputError(f"{env.anchor} is not a ledger key of the pinned portfolio root", field=LEDGER_PUBKEY_ENV,
                             fix="unset it (the pinned root names the ledger key) or give the root's ledger key")
        return LedgerKeys(named, "of the pinned portfolio root")
    if env is not None:
        return env
    if named:
        return LedgerKeys(named, "of the portfolio root in the ledger",
                          f"checkpoints are anchored in a portfolio root that is not pinned: set {PIN_ENV}")
    entry = keyring.entries.get(ledger_identity())
    anchor = f"{ledger_identity()} in {keyring.path}" if entry else \
        f"(the keyring {keyring.path} has no {ledger_identity()} entry)"
    return LedgerKeys({entry.fingerprint: entry.key()} if entry else {}, anchor, WORKING_TREE_ANCHOR)


@dataclass
class ActorAuthority:
    """Whose keys may sign each privileged row, decided per row and per scenario:
    - a scenario with a signed root: the keys of the root version in force at that row (applied
      at an earlier seq), so rows signed before a rotation verify and the old key after it does not;
    - a portfolio-level row: the portfolio root version in force;
    - otherwise the keyring (`keyring.yaml`), except in root-required mode (`root_required`),
      where such a row is refused.
    A key added to the keyring for an owner's identity never signs a rooted scenario's rows."""

    keyring: Keyring
    required: str | None
    portfolio: list[PortfolioRoot]
    portfolio_broken: list[str]
    chains: dict[str, list[ScenarioRoot]]
    broken: dict[str, list[str]]
    _keys: dict[tuple[str, int], ActorKeys] = field(default_factory=dict)  # (scope, version) -> keys

    @classmethod
    def load(cls, ledger: Ledger, keyring: Keyring) -> ActorAuthority:
        portfolio: list[PortfolioRoot] = []
        portfolio_broken: list[str] = []
        try:
            portfolio = portfolio_chain(ledger)
        except Refused as exc:
            portfolio_broken = exc.reasons
        chains: dict[str, list[ScenarioRoot]] = {}
        broken: dict[str, list[str]] = {}
        for sid in ledger.scenario_ids((SCENARIO_EVENT,)):
            try:
                chains[sid] = scenario_chain(ledger, sid)
            except Refused as exc:
                broken[sid] = exc.reasons
        return cls(keyring, root_required(), portfolio, portfolio_broken, chains, broken)

    def keys_for(self, ev: LedgerEvent) -> tuple[ActorKeys, str] | str:
        """(identity -> keys, where they come from) for this row, or why no key may sign it."""
        sid = ev.scenario_id
        if sid == PORTFOLIO_SCOPE:
            if self.portfolio_broken:
                return f"the portfolio trust chain does not verify: {self.portfolio_broken[0]}"
            in_force = [p for p in self.portfolio if (p.ledger_seq or 0) < ev.seq]
            if in_force:
                root = in_force[-1]
                if (sid, root.version) not in self._keys:
                    md = root.metadata.signed
                    self._keys[sid, root.version] = {ident: {kid: _public(md.keys[kid])}
                                                     for ident, kid in root.root_identities.items()}
                return self._keys[sid, root.version], f"portfolio root v{root.version}"
        elif sid in self.broken:
            return f"the trust chain of {sid} does not verify: {self.broken[sid][0]}"
        else:
            in_force_s = [r for r in self.chains.get(sid, []) if (r.ledger_seq or 0) < ev.seq]
            if in_force_s:
                root_s = in_force_s[-1]
                if (sid, root_s.version) not in self._keys:
                    self._keys[sid, root_s.version] = {}
                    _add_root_keys(self._keys[sid, root_s.version], root_s)
                return self._keys[sid, root_s.version], f"the signed root v{root_s.version} of {sid} in force at this row"
        if self.required:
            return (f"no signed root of {sid} was in force at this row and {self.required}: "
                    "the keyring cannot authenticate it")
        if ("", 0) not in self._keys:
            self._keys["", 0] = keyring_actor_keys(self.keyring)
        return self._keys["", 0], f"the keyring {self.keyring.path} ({sid} has no signed root)"

    def problem(self, ev: LedgerEvent) -> str | None:
        """Why a privileged row's actor is not authenticated (None when it is, or need not be)."""
        if not is_privileged(ev.event_type) or ev.canon is None:
            return None
        resolved = self.keys_for(ev)
        if isinstance(resolved, str):
            return f"row {ev.seq} ({ev.event_type}, actor {ev.actor!r}): {resolved}"
        return actor_problem(ev, *resolved)


def _add_root_keys(keys: ActorKeys, root: ScenarioRoot) -> None:
    """The owners' keys and the release policy's key named in one scenario root version."""
    for ident, entry in root.keyring().entries.items():
        keys.setdefault(ident, {})[entry.fingerprint] = entry.key()
    policy = root.release_policy
    if policy and policy.get("keyid") in root.metadata.signed.keys:
        keys.setdefault(str(policy["identity"]), {})[policy["keyid"]] = _public(
            root.metadata.signed.keys[policy["keyid"]])


def checkpoint_dirs() -> list[Path]:
    env = os.environ.get("RELEASEGATE_CHECKPOINT_DIR")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [state_dir() / "checkpoints"]


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint, as found somewhere (`source`)."""

    seq: int
    head_hash: str
    time: str
    ledger: str
    previous: str | None
    previous_seq: int
    rows: list[str] | None  # hashes of rows previous_seq+1..seq, when few
    envelope: dict[str, Any]
    digest: str  # sha256 of the payload: what the next checkpoint's `previous` names
    source: str

    def known_hashes(self) -> dict[int, str]:
        known = {self.seq: self.head_hash}
        if self.rows is not None:
            known.update({self.previous_seq + 1 + i: h for i, h in enumerate(self.rows)})
        return known

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head_hash": self.head_hash, "time": self.time, "ledger": self.ledger,
                "previous": self.previous, "previous_seq": self.previous_seq, "digest": self.digest,
                "source": self.source, "rows": len(self.rows) if self.rows is not None else None}


def _hex64(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def parse_checkpoint(envelope: Any, source: str) -> Checkpoint:
    """Shape-check a checkpoint envelope (signatures are checked by `checkpoint_signed`)."""
    def bad(what: str) -> InputError:
        return InputError(f"not a releasegate ledger checkpoint: {what}", file=source, field="--checkpoint",
                          fix="pass a checkpoint file written by `releasegate ledger checkpoint`")

    if not isinstance(envelope, dict):
        raise bad("the JSON is not an object")
    if envelope.get("payloadType") != CHECKPOINT_PAYLOAD_TYPE:
        raise bad(f"payloadType is {str(envelope.get('payloadType'))[:80]!r}")
    if not isinstance(envelope.get("signatures"), list):
        raise bad("no signatures list")
    try:
        check_signatures(envelope)
    except InputError as exc:
        raise bad(f"{exc.field}: {exc.message}") from None
    try:
        raw = envelope_payload(envelope)
        body = load_json_bounded(raw, max_bytes=MAX_CHECKPOINT_BYTES, what="checkpoint payload")
    except (InputError, ValueError):
        raise bad("payload is not base64 JSON") from None
    if not isinstance(body, dict) or body.get("_type") != CHECKPOINT_TYPE:
        raise bad("payload _type")
    seq, prev_seq, rows = body.get("seq"), body.get("previous_seq"), body.get("rows")
    if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(prev_seq, int)
            or isinstance(prev_seq, bool) or not 0 <= prev_seq <= seq):
        raise bad("seq / previous_seq")
    if not _hex64(body.get("head_hash")) or not (body.get("previous") is None or _hex64(body.get("previous"))):
        raise bad("head_hash / previous")
    if rows is not None and (not isinstance(rows, list) or len(rows) != seq - prev_seq
                             or not all(_hex64(h) for h in rows) or (rows and rows[-1] != body["head_hash"])):
        raise bad("rows")
    return Checkpoint(seq=seq, head_hash=body["head_hash"], time=str(body.get("time")),
                      ledger=str(body.get("ledger")), previous=body.get("previous"), previous_seq=prev_seq,
                      rows=rows, envelope=envelope, digest=hashlib.sha256(raw).hexdigest(), source=source)


def checkpoint_signed(cp: Checkpoint, keys: dict[str, Ed25519PublicKey]) -> bool:
    """True when a signature by an allowed ledger key verifies."""
    for sig in cp.envelope.get("signatures", []):
        if not isinstance(sig, dict):
            continue
        key = keys.get(str(sig.get("keyid")))
        if key is not None and signature_valid(cp.envelope, sig, key):
            return True
    return False


def read_checkpoint_file(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        envelope = load_json_bounded(path, max_bytes=MAX_CHECKPOINT_BYTES, what="checkpoint file")
    except InputError as exc:
        message = (f"checkpoint file is not JSON ({exc.message}, line {exc.line})"
                   if exc.message.startswith("invalid JSON") else exc.message)
        raise InputError(message, file=path, field="--checkpoint",
                         fix="pass a checkpoint file written by `releasegate ledger checkpoint`") from None
    return parse_checkpoint(envelope, str(path))


def _checkpoint_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("checkpoint-*.json")) if folder.is_dir() else []


def build_checkpoint(ledger: Ledger, key: Ed25519PrivateKey, previous: Checkpoint | None,
                     *, conn: Any = None, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """A signed checkpoint envelope of the ledger's current head (None when nothing is new)."""
    seq, head_hash = ledger.head(conn=conn)
    if previous is not None and previous.seq == seq and previous.head_hash == head_hash:
        return None
    prev_seq = previous.seq if previous is not None and previous.seq <= seq else 0
    rows = None
    if seq - prev_seq <= MAX_ROWS_IN_CHECKPOINT:
        rows = ledger.row_hashes(prev_seq + 1, seq, conn=conn)
    body = {
        "_type": CHECKPOINT_TYPE, "ledger": ledger_identity(), "seq": seq, "head_hash": head_hash,
        "time": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "previous": previous.digest if previous is not None and prev_seq else None,
        "previous_seq": prev_seq, "rows": rows,
    }
    return sign_envelope(make_envelope(canonical_json(body), CHECKPOINT_PAYLOAD_TYPE), key)


def latest_published(folders: Iterable[Path], keys: dict[str, Ed25519PublicKey]) -> Checkpoint | None:
    """The newest validly signed checkpoint in the publication folders."""
    best: Checkpoint | None = None
    for folder in folders:
        for path in reversed(_checkpoint_files(folder)):
            try:
                cp = read_checkpoint_file(path)
            except InputError:
                continue
            if checkpoint_signed(cp, keys) and (best is None or cp.seq > best.seq):
                best = cp
            break  # files sort by seq: the last readable one is the newest here
    return best


def publish_to_folder(envelope: dict[str, Any], folder: Path) -> Path:
    """Create the checkpoint file; never overwrite one (append-only by construction here)."""
    cp = parse_checkpoint(envelope, str(folder))
    path = folder / f"checkpoint-{cp.seq:012d}-{cp.head_hash[:16]}.json"
    data = (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode()
    if path.exists():
        return path  # the same seq and head: the same checkpoint, published before
    tmp = atomic_write_bytes(folder / f".{path.name}.new", data)
    try:
        os.link(tmp, path)  # fails if it appeared meanwhile: never replaces a published file
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path


def publish_to_mlflow(envelope: dict[str, Any], scenario_ids: Iterable[str], mlflow_uri: str | None) -> list[str]:
    """Tag each scenario's registered model with the checkpoint; returns the models tagged."""
    from . import _registry as reg

    cp = parse_checkpoint(envelope, "checkpoint")
    value = json.dumps(envelope, sort_keys=True, separators=(",", ":"))
    c = reg.client(mlflow_uri)
    tagged = []
    for sid in sorted(set(scenario_ids)):
        name = reg.registered_model_name(sid)
        c.set_registered_model_tag(name, f"{MLFLOW_TAG}.{cp.seq:012d}", value)
        c.set_registered_model_tag(name, MLFLOW_TAG, value)
        tagged.append(name)
    return tagged


def mlflow_checkpoints(scenario_ids: Iterable[str], mlflow_uri: str | None) -> tuple[list[Checkpoint], list[str]]:
    """Checkpoints tagged on the scenarios' registered models, and problems reading them."""
    from mlflow.exceptions import MlflowException

    from . import _registry as reg

    c = reg.client(mlflow_uri)
    found: list[Checkpoint] = []
    problems: list[str] = []
    for sid in sorted(set(scenario_ids)):
        name = reg.registered_model_name(sid)
        try:
            rm = c.get_registered_model(name)
        except MlflowException:
            continue
        for key, value in sorted((rm.tags or {}).items()):
            if not key.startswith(MLFLOW_TAG + "."):
                continue
            source = f"mlflow:{name}#{key}"
            try:
                found.append(parse_checkpoint(load_json_bounded(value.encode(), max_bytes=MAX_CHECKPOINT_BYTES,
                                                                file=source, what="checkpoint tag"), source))
            except (ValueError, InputError) as exc:
                problems.append(f"{source}: {exc}")
    return found, problems


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint | None
    published: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None  # why no checkpoint was written


def write_checkpoint(ledger: Ledger, *, keyring: Keyring | None = None, key: Ed25519PrivateKey | None = None,
                     scenario_ids: Iterable[str] = (), mlflow_uri: str | None = None,
                     mlflow: bool = True, conn: Any = None) -> CheckpointResult:
    """Sign the ledger's head and publish it to the checkpoint folder(s) and MLflow.

    Publication failures do not undo anything (the database is the record; the checkpoint is
    evidence about it): they are returned, and the next checkpoint covers the same rows.
    """
    key = key or ledger_signing_key(ledger)
    if key is None:
        return CheckpointResult(None, skipped=f"no ledger key ({ledger_key_path(ledger)}): no checkpoint written; "
                                f"create one with `releasegate keys generate --identity {ledger_identity()}`")
    keyring = keyring or Keyring.load()
    anchor = ledger_public_keys(keyring, ledger)
    keys = anchor.keys
    if fingerprint(key.public_key()) not in keys:
        raise InputError(f"the key {fingerprint(key.public_key())[:16]} is not the ledger key {anchor.anchor}",
                         file=ledger_key_path(ledger),
                         field="RELEASEGATE_LEDGER_KEY",
                         fix=f"use that key (RELEASEGATE_LEDGER_KEY), or add it with `releasegate keys generate "
                             f"--identity {ledger_identity()}` when the keyring is the anchor")
    folders = checkpoint_dirs()
    previous = latest_published(folders, keys)
    envelope = build_checkpoint(ledger, key, previous, conn=conn)
    if envelope is None:
        return CheckpointResult(previous, skipped=f"the head (seq {previous.seq}) is already checkpointed")
    result = CheckpointResult(parse_checkpoint(envelope, "new"))
    for folder in folders:
        try:
            result.published.append(str(publish_to_folder(envelope, folder)))
        except InputError as exc:
            result.errors.append(str(exc))
    if mlflow and scenario_ids:
        try:
            result.published += [f"mlflow:{n}" for n in publish_to_mlflow(envelope, scenario_ids, mlflow_uri)]
        except Exception as exc:  # noqa: BLE001 - MLflow down: the folder copy stands
            result.errors.append(f"MLflow: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return result


@dataclass
class LedgerVerification:
    """What `ledger verify` found: problems fail it; notes are said but do not."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    rows: int = 0
    first_divergence: int | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


def collect_checkpoints(*, files: Iterable[str | Path] = (), folders: Iterable[Path] | None = None,
                        scenario_ids: Iterable[str] = (), mlflow_uri: str | None = None,
                        use_mlflow: bool = True) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint in the folders, the given files (bad input: InputError) and MLflow."""
    found = [read_checkpoint_file(f) for f in files]
    problems: list[str] = []
    for folder in checkpoint_dirs() if folders is None else folders:
        for path in _checkpoint_files(Path(folder)):
            try:
                found.append(read_checkpoint_file(path))
            except InputError as exc:
                problems.append(f"unreadable checkpoint: {exc}")
    if use_mlflow:
        try:
            more, bad = mlflow_checkpoints(scenario_ids, mlflow_uri)
            found += more
            problems += bad
        except Exception as exc:  # noqa: BLE001 - MLflow down: say so, check the rest
            problems.append(f"MLflow checkpoints could not be read: {type(exc).__name__}")
    return found, problems


def verify_ledger(ledger: Ledger, *, keyring: Keyring | None = None, checkpoint_files: Iterable[str | Path] = (),
                  folders: Iterable[Path] | None = None, mlflow_uri: str | None = None,
                  use_mlflow: bool = True, observe: Any = None,
                  require_checkpoint: bool = False) -> LedgerVerification:
    """The chain, and its consistency with every signed checkpoint found (none found is a
    problem with `require_checkpoint`, a note otherwise)."""
    keyring = keyring or Keyring.load()
    anchor = ledger_public_keys(keyring, ledger)
    keys = anchor.keys
    who = ActorAuthority.load(ledger, keyring)
    result = LedgerVerification()
    if anchor.note:
        result.notes.append(anchor.note)
    found, result.problems = collect_checkpoints(
        files=checkpoint_files, folders=folders, scenario_ids=ledger.scenario_ids() if use_mlflow else (),
        mlflow_uri=mlflow_uri, use_mlflow=use_mlflow)
    valid: list[Checkpoint] = []
    for cp in found:
        if checkpoint_signed(cp, keys):
            valid.append(cp)
        else:
            result.problems.append(f"checkpoint {cp.source} (seq {cp.seq}) is not signed by the ledger key "
                                   f"{anchor.anchor}")
    result.checkpoints = sorted({cp.digest: cp for cp in valid}.values(), key=lambda c: (c.seq, c.source))
    known: dict[int, tuple[str, str]] = {}
    for cp in result.checkpoints:
        for seq, h in cp.known_hashes().items():
            if seq in known and known[seq][0] != h:
                result.problems.append(
                    f"checkpoints disagree about row {seq}: {known[seq][1]} says {known[seq][0][:16]}, "
                    f"{cp.source} says {h[:16]} (two histories were signed: the ledger was rewritten "
                    "and checkpointed again)")
            known.setdefault(seq, (h, cp.source))
    by_digest = {cp.digest for cp in result.checkpoints}
    seqs = {cp.seq for cp in result.checkpoints}
    for cp in result.checkpoints:
        if cp.previous and cp.previous_seq in seqs and cp.previous not in by_digest:
            result.problems.append(f"checkpoint {cp.source} (seq {cp.seq}) names a previous checkpoint "
                                   f"(seq {cp.previous_seq}) other than the one found")

    actual: dict[int, str] = {}
    last = 0

    actor_problems: list[str] = []

    def seen(ev: LedgerEvent) -> None:
        nonlocal last
        last = ev.seq
        if ev.seq in known:
            actual[ev.seq] = ev.hash
        problem = who.problem(ev)
        if problem:
            actor_problems.append(problem)
        if observe is not None:
            observe(ev)

    result.problems += ledger.verify(observe=seen)
    result.problems += actor_problems
    result.rows = last
    first_bad: int | None = None
    last_good = 0
    for seq in sorted(known):
        h, source = known[seq]
        if seq > last:
            first_bad = seq
            result.problems.append(f"the ledger ends at row {last} but checkpoint {source} attests row {seq}: "
                                   "rows were cut off the end")
            break
        if actual.get(seq) != h:
            first_bad = seq
            result.problems.append(f"row {seq} differs from checkpoint {source} (hash {str(actual.get(seq))[:16]}, "
                                   f"checkpointed {h[:16]}): rows up to it were edited, erased, reordered "
                                   "or inserted, and the chain recomputed")
            break
        last_good = seq
    if first_bad is not None:
        # A matching hash pins every row before it; the first mismatch pins nothing after it.
        first = min(first_bad, last + 1)
        if first - last_good == 1:
            result.first_divergence = first
            result.problems.append(f"first diverging row: seq {first}")
        else:
            result.first_divergence = last_good + 1
            result.problems.append(f"first diverging row: between seq {last_good + 1} and {first} "
                                   f"(rows up to {last_good} match a checkpoint)")
    if not result.checkpoints:
        result.notes.append("no signed checkpoint found: a truncated or rechained ledger cannot be "
                            "detected (run `releasegate ledger checkpoint` and keep the file elsewhere)")
    elif first_bad is None and known and max(known) < last:
        result.notes.append(f"rows {max(known) + 1}..{last} are newer than the newest checkpoint "
                            f"(seq {max(known)}): only the chain covers them")
    if require_checkpoint and not result.checkpoints:
        result.problems.append("no signed checkpoint found (--require-checkpoint)")
    return result


def checkpoint_ledger(ledger: Ledger, *, keyring: Keyring | None = None, mlflow_uri: str | None = None,
                      mlflow: bool = True) -> CheckpointResult:
    """`releasegate ledger checkpoint`: sign the head and publish it (folders, and with `mlflow` the
    registered model of every scenario in the ledger). Asked for explicitly, a missing ledger key is
    bad input (after a move, `checkpoint_after_move` skips it instead)."""
    if ledger_signing_key(ledger) is None:
        raise InputError("no ledger key", file=ledger_key_path(ledger), field="RELEASEGATE_LEDGER_KEY",
                         fix="create one with `releasegate keys generate --identity releasegate-ledger` "
                             "or point RELEASEGATE_LEDGER_KEY at it")
    return write_checkpoint(ledger, keyring=keyring, mlflow_uri=mlflow_uri, mlflow=mlflow,
                            scenario_ids=ledger.scenario_ids() if mlflow else ())


def checkpoint_after_move(ledger: Ledger, scenario_ids: Iterable[str], mlflow_uri: str | None) -> CheckpointResult:
    """The checkpoint written after every alias move; never raises (the move has committed)."""
    try:
        return write_checkpoint(ledger, scenario_ids=scenario_ids, mlflow_uri=mlflow_uri)
    except Exception as exc:  # noqa: BLE001 - reported with the move, not instead of it
        return CheckpointResult(None, errors=[str(exc) if isinstance(exc, InputError)
                                              else f"{type(exc).__name__}: {exc}"])


def checkpoint_lines(result: CheckpointResult | None) -> list[str]:
    """What the CLI says about the checkpoint written after a move."""
    if result is None:
        return []
    lines = []
    if result.skipped:
        lines.append(f"checkpoint: {result.skipped}")
    elif result.checkpoint is not None:
        lines.append(f"checkpoint: row {result.checkpoint.seq} signed; published to "
                     + (", ".join(result.published) or "nowhere"))
    lines += [f"checkpoint NOT published: {e}" for e in result.errors]
    return lines
