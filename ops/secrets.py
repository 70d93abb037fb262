"""Exchange credentials encrypted at rest: AES-256-GCM, key from PBKDF2-HMAC-SHA256 over a passphrase in the env.

The passphrase comes only from ``ARBFLOW_SECRETS_PASSPHRASE`` (or an explicit argument): never from a config file.
The file is JSON ``{"format", "kdf", "iterations", "salt", "nonce", "ciphertext"}`` (base64 fields); a fresh random
salt and nonce are drawn on every save, and the header is bound to the ciphertext as associated data, so changing the
iteration count or salt fails decryption like a wrong passphrase does. Credentials never appear in logs or reprs.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from arbflow.errors import SecretsError

PASSPHRASE_ENV = "ARBFLOW_SECRETS_PASSPHRASE"
FORMAT = "arbflow-secrets-v1"
PBKDF2_ITERATIONS = 600_000  # OWASP 2023 recommendation for PBKDF2-HMAC-SHA256
_SALT_BYTES = 16
_NONCE_BYTES = 12  # GCM standard nonce
_KEY_BYTES = 32  # AES-256


@dataclass(frozen=True)
class ExchangeCredential:
    """One venue's API credential. ``repr`` masks every value so it can't leak through logs or tracebacks."""

    api_key: str
    secret: str
    password: str | None = None  # OKX-style passphrase

    def __repr__(self) -> str:
        return f"ExchangeCredential(api_key='{_mask(self.api_key)}', secret='***', password={'***' if self.password else None})"


def _mask(value: str) -> str:
    return value[:3] + "***" if len(value) > 8 else "***"


def passphrase_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Read the passphrase, failing with what to set when it is missing or empty."""
    value = (os.environ if environ is None else environ).get(PASSPHRASE_ENV, "")
    if not value:
        msg = f"set {PASSPHRASE_ENV} to the passphrase of the credentials store"
        raise SecretsError(msg)
    return value


def _derive_key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=salt, iterations=iterations)
    return kdf.derive(passphrase.encode("utf-8"))


def _header_aad(iterations: int, salt: bytes) -> bytes:
    return f"{FORMAT}|pbkdf2-sha256|{iterations}|".encode() + salt


def save_credentials(
    path: str | Path,
    credentials: Mapping[str, ExchangeCredential],
    passphrase: str | None = None,
    *,
    iterations: int = PBKDF2_ITERATIONS,
) -> None:
    """Encrypt ``{exchange: credential}`` to ``path`` (mode 0600, written to a temp file then renamed)."""
    passphrase = passphrase if passphrase is not None else passphrase_from_env()
    if iterations < 1:
        msg = f"PBKDF2 iterations must be >= 1, got {iterations}"
        raise SecretsError(msg)
    salt = os.urandom(_SALT_BYTES)
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(
        {name: {"api_key": c.api_key, "secret": c.secret, "password": c.password} for name, c in credentials.items()},
        sort_keys=True,
    ).encode("utf-8")
    ciphertext = AESGCM(_derive_key(passphrase, salt, iterations)).encrypt(
        nonce, plaintext, _header_aad(iterations, salt)
    )
    doc = {
        "format": FORMAT,
        "kdf": "pbkdf2-sha256",
        "iterations": iterations,
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
    tmp.replace(path)


def load_credentials(path: str | Path, passphrase: str | None = None) -> dict[str, ExchangeCredential]:
    """Decrypt the store; a wrong passphrase or an altered file raises SecretsError saying so."""
    passphrase = passphrase if passphrase is not None else passphrase_from_env()
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc.get("kdf") != "pbkdf2-sha256":
            msg = f"{path} is not an arbflow credentials store ({FORMAT})"
            raise SecretsError(msg)
        iterations = int(doc["iterations"])
        salt = base64.b64decode(doc["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except FileNotFoundError:
        msg = f"credentials store {path} does not exist"
        raise SecretsError(msg) from None
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"credentials store {path} is malformed: {type(exc).__name__}"
        raise SecretsError(msg) from None
    try:
        plaintext = AESGCM(_derive_key(passphrase, salt, iterations)).decrypt(
            nonce, ciphertext, _header_aad(iterations, salt)
        )
    except InvalidTag:
        msg = f"cannot decrypt {path}: wrong {PASSPHRASE_ENV} or the file was altered"
        raise SecretsError(msg) from None
    return {name: ExchangeCredential(**fields) for name, fields in json.loads(plaintext).items()}


def set_credential(
    path: str | Path, exchange: str, credential: ExchangeCredential, passphrase: str | None = None
) -> None:
    """Add or replace one venue's credential, re-encrypting the whole store (fresh salt and nonce)."""
    passphrase = passphrase if passphrase is not None else passphrase_from_env()
    current = load_credentials(path, passphrase) if Path(path).exists() else {}
    save_credentials(path, {**current, exchange: credential}, passphrase)


def main(argv: list[str] | None = None) -> int:
    """``python -m ops.secrets [--store PATH] set EXCHANGE`` (api key, secret, optional password: one per line on
    stdin, so they never appear in the process list or shell history) | ``list`` (venues and masked keys)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m ops.secrets", description=main.__doc__)
    parser.add_argument("--store", default="data/secrets.json", help="encrypted store (default: data/secrets.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    set_cmd = sub.add_parser("set", help="store a venue's credential read from stdin")
    set_cmd.add_argument("exchange", help="ccxt id, e.g. binance")
    sub.add_parser("list", help="venues in the store, keys masked")
    args = parser.parse_args(argv)
    try:
        if args.command == "set":
            lines = [ln.strip() for ln in sys.stdin.read().splitlines()]
            if len(lines) < 2 or not lines[0] or not lines[1]:
                parser.error("stdin must hold the API key and the secret (and optionally a password), one per line")
            cred = ExchangeCredential(lines[0], lines[1], lines[2] if len(lines) > 2 and lines[2] else None)
            set_credential(args.store, args.exchange, cred)
            print(f"stored credential for {args.exchange} in {args.store}")
        else:
            for name, cred in sorted(load_credentials(args.store).items()):
                print(f"{name}\t{_mask(cred.api_key)}")
    except SecretsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
