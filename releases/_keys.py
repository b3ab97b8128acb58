"""Ed25519 signing keys and the repository keyring that maps identities to public keys.

Private keys live in `keys_dir()` (outside the repository, mode 0600, folder 0700); the keyring
(`keyring.yaml` at the project root) holds only public keys, reviewed like code. A key's id is
its fingerprint: sha256 of the raw 32-byte public key, hex. That id is the DSSE `keyid`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releasegate.core import InputError, atomic_write_text, keys_dir, project_root

_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*(@[A-Za-z0-9.\-]+\.[A-Za-z]{2,})?$")


def default_keyring_path() -> Path:
    return Path(os.environ.get("RELEASEGATE_KEYRING", project_root() / "keyring.yaml"))


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class PublicKeyEntry:
    identity: str
    fingerprint: str
    public_key_pem: str

    def key(self) -> Ed25519PublicKey:
        key = serialization.load_pem_public_key(self.public_key_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(f"keyring entry {self.identity!r} is not an Ed25519 key",
                             fix="regenerate it with `releasegate keys generate`")
        return key


@dataclass(frozen=True)
class Keyring:
    """Identity -> public key, read from a YAML file in the repository."""

    path: Path
    entries: dict[str, PublicKeyEntry]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Keyring:
        path = Path(path) if path else default_keyring_path()
        if not path.is_file():
            return cls(path=path, entries={})
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"invalid keyring YAML: {exc}", file=path, fix="fix the YAML syntax") from None
        identities = data.get("identities", {}) if isinstance(data, dict) else None
        if not isinstance(identities, dict):
            raise InputError("a keyring maps `identities:` to public keys", file=path,
                             field="identities", fix="see keyring.yaml in the repository")
        entries: dict[str, PublicKeyEntry] = {}
        for identity, item in identities.items():
            if not isinstance(item, dict) or "public_key" not in item:
                raise InputError("entry needs public_key", file=path, field=f"identities.{identity}",
                                 fix="re-add it with `releasegate keys generate`")
            pub = serialization.load_pem_public_key(str(item["public_key"]).encode())
            if not isinstance(pub, Ed25519PublicKey):
                raise InputError("not an Ed25519 public key", file=path,
                                 field=f"identities.{identity}.public_key", fix="use an Ed25519 key")
            fp = fingerprint(pub)
            # The stored fingerprint is for humans; recompute so a wrong one cannot mislead.
            if item.get("fingerprint") and item["fingerprint"] != fp:
                raise InputError(f"fingerprint {item['fingerprint']} does not match the key ({fp})",
                                 file=path, field=f"identities.{identity}.fingerprint",
                                 fix="correct the fingerprint or the key")
            entries[str(identity)] = PublicKeyEntry(str(identity), fp, public_pem(pub))
        return cls(path=path, entries=entries)

    def by_fingerprint(self, fp: str) -> PublicKeyEntry | None:
        for entry in self.entries.values():
            if entry.fingerprint == fp:
                return entry
        return None

    def with_entry(self, entry: PublicKeyEntry) -> Keyring:
        return Keyring(self.path, {**self.entries, entry.identity: entry})

    def save(self) -> None:
        body = {
            "identities": {
                e.identity: {"fingerprint": e.fingerprint, "public_key": e.public_key_pem}
                for e in sorted(self.entries.values(), key=lambda e: e.identity)
            }
        }
        header = ("# releasegate keyring: identity -> Ed25519 public key (never a private key).\n"
                  "# Changes are reviewed like code: whoever can edit this file can name a signer.\n")
        atomic_write_text(self.path, header + yaml.safe_dump(body, sort_keys=True))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _repository_root(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def private_key_path(identity: str) -> Path:
    return keys_dir() / f"{identity}.pem"


def generate_key(identity: str, *, keyring_path: str | Path | None = None,
                 overwrite: bool = False) -> PublicKeyEntry:
    """Write a new private key to keys_dir() (0600) and add its public key to the keyring."""
    if not _IDENTITY.match(identity):
        raise InputError(f"{identity!r} is not an identity", field="--identity",
                         fix="use the owner id from the contract, e.g. product-owner@support.example")
    folder = keys_dir()
    for repo in {_repository_root(project_root()), _repository_root(Path.cwd())} - {None}:
        if _inside(folder, repo):  # type: ignore[arg-type]
            raise InputError(f"keys folder {folder} is inside the repository {repo}",
                             field="RELEASEGATE_KEYS_DIR",
                             fix="point RELEASEGATE_KEYS_DIR outside the repository (default ~/.config/releasegate/keys)")
    path = private_key_path(identity)
    if path.exists() and not overwrite:
        raise InputError(f"a key for {identity} already exists at {path}", field="--identity",
                         fix="use it, or delete it first to rotate")
    keyring = Keyring.load(keyring_path)  # read before writing anything: a bad keyring aborts
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Create with 0600 from the start: no window where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)
    entry = PublicKeyEntry(identity, fingerprint(private.public_key()), public_pem(private.public_key()))
    keyring.with_entry(entry).save()
    return entry


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read key: {exc.strerror}", file=path, field="--key",
                         fix="pass the .pem written by `releasegate keys generate`") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError("not an unencrypted PEM private key", file=path, field="--key",
                         fix="pass the .pem written by `releasegate keys generate`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("not an Ed25519 private key", file=path, field="--key",
                         fix="generate one with `releasegate keys generate`")
    return key


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
