"""Credentials store: round-trip, no plaintext on disk, wrong passphrase and tampering fail clearly."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from arbflow.errors import SecretsError
from ops.secrets import (
    PASSPHRASE_ENV,
    PBKDF2_ITERATIONS,
    ExchangeCredential,
    load_credentials,
    passphrase_from_env,
    save_credentials,
)

CREDS = {
    "binance": ExchangeCredential(api_key="BINANCE-KEY-0123456789", secret="binance-secret-abcdef"),
    "okx": ExchangeCredential(api_key="OKX-KEY-9876543210", secret="okx-secret-zyxwvu", password="okx-pass-phrase"),
}
FAST = 1_000  # PBKDF2 iterations for the tests that are not about the KDF cost


def test_round_trip_with_default_iterations_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")
    path = tmp_path / "secrets.json"
    save_credentials(path, CREDS)
    assert json.loads(path.read_text())["iterations"] == PBKDF2_ITERATIONS
    assert load_credentials(path) == CREDS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_holds_no_plaintext(tmp_path):
    path = tmp_path / "secrets.json"
    save_credentials(path, CREDS, "pw", iterations=FAST)
    raw = path.read_bytes()
    for cred in CREDS.values():
        for value in (cred.api_key, cred.secret, cred.password):
            if value:
                assert value.encode() not in raw
    assert b"binance" not in raw and b"okx" not in raw  # even venue names are inside the ciphertext


def test_each_save_draws_a_new_salt_and_nonce(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_credentials(a, CREDS, "pw", iterations=FAST)
    save_credentials(b, CREDS, "pw", iterations=FAST)
    doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
    assert doc_a["salt"] != doc_b["salt"] and doc_a["nonce"] != doc_b["nonce"]
    assert doc_a["ciphertext"] != doc_b["ciphertext"]


def test_wrong_passphrase_fails_clearly(tmp_path):
    path = tmp_path / "secrets.json"
    save_credentials(path, CREDS, "right", iterations=FAST)
    with pytest.raises(SecretsError, match=f"wrong {PASSPHRASE_ENV}"):
        load_credentials(path, "wrong")


def test_tampered_header_fails_like_a_wrong_passphrase(tmp_path):
    path = tmp_path / "secrets.json"
    save_credentials(path, CREDS, "right", iterations=FAST)
    doc = json.loads(path.read_text())
    doc["iterations"] = FAST + 1
    path.write_text(json.dumps(doc))
    with pytest.raises(SecretsError, match="altered"):
        load_credentials(path, "right")


def test_missing_passphrase_says_what_to_set(monkeypatch):
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(SecretsError, match=PASSPHRASE_ENV):
        passphrase_from_env()


def test_malformed_and_missing_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "arbflow-secrets-v1", "kdf": "pbkdf2-sha256", "iterations": 5}')
    with pytest.raises(SecretsError, match="malformed"):
        load_credentials(bad, "pw")
    with pytest.raises(SecretsError, match="does not exist"):
        load_credentials(tmp_path / "nope.json", "pw")


def test_repr_never_shows_secrets():
    text = repr(CREDS["okx"]) + str(CREDS)
    assert "okx-secret" not in text and "okx-pass" not in text and "OKX-KEY-9876543210" not in text


def test_set_and_list_from_the_command_line_never_echo_secrets(tmp_path):
    store = tmp_path / "secrets.json"
    env = {**os.environ, PASSPHRASE_ENV: "cli pass"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ops.secrets", "--store", str(store), *args]
        return subprocess.run(cmd, input=stdin, env=env, capture_output=True, text=True, check=False, timeout=60)

    assert cli("set", "binance", stdin="BINANCE-KEY-0123456789\nbinance-secret-abcdef\n").returncode == 0
    assert cli("set", "okx", stdin="OKX-KEY-9876543210\nokx-secret-zyxwvu\nokx-pass-phrase\n").returncode == 0
    listed = cli("list")
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["binance\tBIN***", "okx\tOKX***"]
    assert load_credentials(store, "cli pass") == CREDS
    for out in (listed.stdout + listed.stderr, store.read_text()):
        assert "secret-" not in out and "KEY-98" not in out
    wrong = subprocess.run(
        [sys.executable, "-m", "ops.secrets", "--store", str(store), "list"],
        env={**env, PASSPHRASE_ENV: "nope"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 2 and "wrong ARBFLOW_SECRETS_PASSPHRASE" in wrong.stderr
    assert cli("set", "htx", stdin="only-a-key\n").returncode == 2
