"""Ed25519 signing keys and the repository keyring that maps identities to public keys.

Private keys live in `keys_dir()` (outside the repository, mode 0600, folder 0700); the keyring
(`keyring.yaml` at the project root) holds only public keys, reviewed like code. A key's id is
its fingerprint: sha256 of the raw 32-byte public key, hex. That id is the DSSE `keyid`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releasegate.core import (
    MAX_CONTRACT_BYTES,
    InputError,
    atomic_write_text,
    decode_utf8,
    keys_dir,
    load_yaml_strict,
    project_root,
    read_bytes_bounded,
)

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


MAX_KEY_FILE_BYTES = 16 * 1024  # an Ed25519 PEM is about 120 bytes
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----")


def _one_pem_block(text: str, kinds: tuple[str, ...]) -> str | None:
    """What is wrong with `text` as exactly one PEM block of one of `kinds` (None when nothing).

    cryptography reads the first block and ignores the rest, so a second key pasted into the same
    entry would be invisible to the reviewer of the signer set; it is refused instead."""
    stripped = text.strip()
    blocks = list(_PEM_BLOCK.finditer(stripped))
    if stripped.count("-----BEGIN ") != 1 or len(blocks) != 1:
        return ("holds more than one PEM block" if stripped.count("-----BEGIN ") > 1
                else "is not one complete PEM block (-----BEGIN ...----- to -----END ...-----)")
    block = blocks[0]
    if block.span() != (0, len(stripped)):
        return "has text outside its PEM block"
    if block.group(1) not in kinds:
        return f"is a {block.group(1)} block, expected {' or '.join(kinds)}"
    try:
        base64.b64decode("".join(block.group(2).split()), validate=True)
    except binascii.Error:
        return "has a PEM block whose base64 is corrupt"
    return None


def parse_public_key(text: str, *, file: str | Path, field: str) -> Ed25519PublicKey:
    """One PEM `PUBLIC KEY` block holding an Ed25519 key; InputError naming the field otherwise."""
    fix = "paste the public key printed by `releasegate keys generate` (one Ed25519 PEM block)"
    problem = _one_pem_block(text, ("PUBLIC KEY",))
    if problem:
        raise InputError(f"public key {problem}", file=file, field=field, fix=fix)
    try:
        key = serialization.load_pem_public_key(text.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"public key does not parse: {str(exc).splitlines()[0][:120]}", file=file,
                         field=field, fix=fix) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"not an Ed25519 public key ({type(key).__name__.lstrip('_')})", file=file,
                         field=field, fix=fix)
    return key


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
        data, _ = load_yaml_strict(path, max_bytes=MAX_CONTRACT_BYTES, what="keyring")
        data = {} if data is None else data
        identities = data.get("identities", {}) if isinstance(data, dict) else None
        if not isinstance(identities, dict):
            raise InputError("a keyring maps `identities:` to public keys", file=path,
                             field="identities", fix="see keyring.yaml in the repository")
        entries: dict[str, PublicKeyEntry] = {}
        for identity, item in identities.items():
            if not isinstance(identity, str) or not _IDENTITY.match(identity):
                raise InputError(f"{str(identity)[:80]!r} is not an identity", file=path, field="identities",
                                 fix="name each signer by an owner id such as product-owner@support.example")
            if not isinstance(item, dict) or not isinstance(item.get("public_key"), str):
                raise InputError("entry needs public_key (PEM text)", file=path, field=f"identities.{identity}",
                                 fix="re-add it with `releasegate keys generate`")
            pub = parse_public_key(item["public_key"], file=path, field=f"identities.{identity}.public_key")
            fp = fingerprint(pub)
            # The stored fingerprint is for humans; recompute so a wrong one cannot mislead.
            if item.get("fingerprint") is not None and item["fingerprint"] != fp:
                raise InputError(f"fingerprint {str(item['fingerprint'])[:80]!r} does not match the key ({fp})",
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


def git_work_tree(path: Path) -> Path | None:
    """The git work tree holding `path` (walking up to the first `.git` folder or file), or None."""
    path = path.resolve()
    for folder in [path, *path.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def checked_keys_dir() -> Path:
    """keys_dir(), refused when it lies inside any git work tree (a key there is one `git add -A`
    away from being published)."""
    folder = keys_dir()
    repo = git_work_tree(folder)
    if repo is not None:
        raise InputError(f"keys folder {folder} is inside the git work tree {repo}",
                         field="RELEASEGATE_KEYS_DIR",
                         fix="point RELEASEGATE_KEYS_DIR outside any repository (default ~/.config/releasegate/keys)")
    return folder


def private_key_path(identity: str) -> Path:
    return keys_dir() / f"{identity}.pem"


def generate_key(identity: str, *, keyring_path: str | Path | None = None,
                 overwrite: bool = False) -> PublicKeyEntry:
    """Write a new private key to keys_dir() (0600) and add its public key to the keyring."""
    if not _IDENTITY.match(identity):
        raise InputError(f"{identity!r} is not an identity", field="--identity",
                         fix="use the owner id from the contract, e.g. product-owner@support.example")
    folder = checked_keys_dir()
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


def load_private_key(path: str | Path, *, field: str = "--key") -> Ed25519PrivateKey:
    """An unencrypted Ed25519 PEM private key that only its owner can read (mode 0600 or 0400)."""
    path = Path(path)
    fix = "pass the .pem written by `releasegate keys generate`"
    if path.resolve().parent == keys_dir():
        checked_keys_dir()
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"cannot read key: {exc.strerror}", file=path, field=field, fix=fix) from None
    if stat.S_ISREG(mode) and mode & 0o077:
        raise InputError(f"private key is readable by group or others (mode {stat.S_IMODE(mode):04o})",
                         file=path, field=field, fix=f"chmod 600 {path}")
    text = decode_utf8(read_bytes_bounded(path, max_bytes=MAX_KEY_FILE_BYTES, what="private key"),
                       file=path, what="private key")
    if "ENCRYPTED" in text:
        raise InputError("private key is encrypted (releasegate reads unencrypted keys kept in a 0600 file)",
                         file=path, field=field, fix=fix)
    problem = _one_pem_block(text, ("PRIVATE KEY",))
    if problem:
        raise InputError(f"private key file {problem}", file=path, field=field, fix=fix)
    try:
        key = serialization.load_pem_private_key(text.strip().encode(), password=None)
    except TypeError:  # a password-protected key without the ENCRYPTED marker
        raise InputError("private key is encrypted", file=path, field=field, fix=fix) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"not a PEM private key: {str(exc).splitlines()[0][:120]}", file=path, field=field,
                         fix=fix) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"not an Ed25519 private key ({type(key).__name__.lstrip('_')})", file=path,
                         field=field, fix="generate one with `releasegate keys generate`")
    return key


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
