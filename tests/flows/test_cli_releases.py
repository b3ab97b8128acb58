"""`releasegate keys generate`: private key 0600 outside the repository, public key in the keyring."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.core import InputError, project_root


@pytest.fixture
def env(isolated_home: Path) -> Path:
    return isolated_home


def test_keys_generate_writes_private_key_0600_and_keyring(env: Path) -> None:
    keyring = env / "keyring.yaml"
    result = CliRunner().invoke(app, ["keys", "generate", "--identity", "product-owner@support.example",
                                      "--keyring", str(keyring)])
    assert result.exit_code == 0, result.output
    pem = env / "keys" / "product-owner@support.example.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE((env / "keys").stat().st_mode) == 0o700
    assert "PRIVATE KEY" in pem.read_text()
    assert "PRIVATE" not in result.output  # the public key is printed, never the private one
    entry = yaml.safe_load(keyring.read_text())["identities"]["product-owner@support.example"]
    assert entry["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert f"fingerprint: {entry['fingerprint']}" in result.output
    assert "PRIVATE" not in keyring.read_text()
    # A second key for the same identity is refused rather than silently replacing the first.
    with pytest.raises(InputError, match="already exists"):
        CliRunner().invoke(app, ["keys", "generate", "--identity", "product-owner@support.example",
                                 "--keyring", str(keyring)], catch_exceptions=False)


def test_keys_generate_refuses_a_keys_folder_inside_the_repository(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside = project_root() / ".releasegate-test-keys"
    monkeypatch.setenv("RELEASEGATE_KEYS_DIR", str(inside))
    with pytest.raises(InputError, match="inside the git work tree"):
        CliRunner().invoke(app, ["keys", "generate", "--identity", "x@support.example",
                                 "--keyring", str(env / "k.yaml")], catch_exceptions=False)
    assert not inside.exists() and not (env / "k.yaml").exists()
