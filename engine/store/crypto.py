"""Encryption of tokens at rest: AES-256-GCM with keys derived from ENGINE_SECRET_KEY.

Envelope (ASCII, stored in a TEXT column): ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``.
The associated data binds a ciphertext to its row and field, so a token copied into another row
(or another field) fails to decrypt. Several secrets may be configured for rotation: the first one
encrypts, all of them decrypt, and the key id picks the right one without trial decryption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.store.errors import DecryptionError, SecretKeyError

log = logging.getLogger("engine.store")

SECRET_KEY_ENV = "ENGINE_SECRET_KEY"
SECRET_KEY_FILE = "secret.key"
MIN_SECRET_LENGTH = 32

_ENVELOPE_VERSION = "v1"
_HKDF_SALT = b"engine/token-encryption"
_HKDF_INFO = b"aes-256-gcm v1"
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class _DerivedKey:
    key_id: str
    aead: AESGCM = field(repr=False)


def _derive(secret: str) -> _DerivedKey:
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    key_id = hashlib.sha256(b"key-id\x00" + material).hexdigest()[:8]
    return _DerivedKey(key_id=key_id, aead=AESGCM(material))


def _associated_data(vendor: str, user_id: str, field_name: str) -> bytes:
    # Length-prefixed so that no choice of values can make two different triples collide.
    parts = [_ENVELOPE_VERSION, vendor, user_id, field_name]
    out = bytearray()
    for part in parts:
        encoded = part.encode("utf-8")
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


class TokenCipher:
    """Encrypts/decrypts short secrets (tokens, PKCE verifiers) bound to (vendor, user, field)."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if not secret_keys:
            raise SecretKeyError("no token-encryption secret configured")
        self._keys = [_derive(secret) for secret in secret_keys]
        self._by_id = {key.key_id: key for key in reversed(self._keys)}
        self._hash_keys = [HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT,
                                info=b"keyed hash v1").derive(secret.encode("utf-8")) for secret in secret_keys]
        self._hash_key = self._hash_keys[0]

    @property
    def current_key_id(self) -> str:
        return self._keys[0].key_id

    def keyed_hash(self, value: str, *, purpose: str) -> str:
        """A stable pseudonym of `value` (e.g. a user id in an audit row) that only a holder of
        the current secret can recompute."""
        message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()

    def keyed_hashes(self, value: str, *, purpose: str) -> tuple[str, ...]:
        """`keyed_hash` under every configured secret, the current one first: what a value
        hashed before a key rotation may be stored under."""
        message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return tuple(dict.fromkeys(hmac.new(key, message, hashlib.sha256).hexdigest() for key in self._hash_keys))

    def encrypt(self, plaintext: str, *, vendor: str, user_id: str, field: str) -> str:
        key = self._keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = key.aead.encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(vendor, user_id, field)
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{_ENVELOPE_VERSION}.{key.key_id}.{body}"

    def decrypt(self, envelope: str, *, vendor: str, user_id: str, field: str) -> str:
        try:
            version, key_id, body = envelope.split(".", 2)
        except ValueError:
            raise DecryptionError(f"stored {field} is not an encrypted value") from None
        if version != _ENVELOPE_VERSION:
            raise DecryptionError(f"stored {field} uses unknown format {version[:8]!r}")
        key = self._by_id.get(key_id)
        if key is None:
            raise DecryptionError(
                f"stored {field} was encrypted with key id {key_id[:8]!r}, which is not among the "
                f"configured {SECRET_KEY_ENV} keys"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plaintext = key.aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(vendor, user_id, field)
            )
            return plaintext.decode("utf-8")
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"stored {field} failed authentication (corrupted, or moved from another row)"
            ) from None

    def needs_reencryption(self, envelope: str) -> bool:
        """True when the value was sealed with a key other than the current one."""
        parts = envelope.split(".", 2)
        return len(parts) != 3 or parts[1] != self.current_key_id


def parse_secret_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not keys:
        raise SecretKeyError(f"{SECRET_KEY_ENV} is set but empty")
    for position, key in enumerate(keys, start=1):
        if len(key) < MIN_SECRET_LENGTH:
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} entry #{position} is {len(key)} characters long; each "
                f"comma-separated entry needs at least {MIN_SECRET_LENGTH}"
            )
    return keys


def load_secret_keys(
    env: Mapping[str, str], data_dir: Path, *, allow_generate: bool
) -> tuple[str, ...]:
    """The configured secrets, first one encrypting. Without ENGINE_SECRET_KEY and when
    `allow_generate` (the embedded SQLite default only), one secret is generated once into
    `<data_dir>/secret.key` (mode 0600) and reused by every later start."""
    raw = env.get(SECRET_KEY_ENV)
    if raw is not None and raw.strip():
        return parse_secret_keys(raw)
    if not allow_generate:
        raise SecretKeyError(
            f"{SECRET_KEY_ENV} is required with this store: set it to a random string of at least "
            f"{MIN_SECRET_LENGTH} characters, the same on every replica"
        )
    return (_read_or_create_key_file(Path(data_dir) / SECRET_KEY_FILE),)


def _read_or_create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the data directory, owner-only
    if not path.exists():
        _create_key_file(path)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)
        log.warning("tightened permissions to owner-only (files 0600): %s", path)
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < MIN_SECRET_LENGTH:
        raise SecretKeyError(
            f"{path} does not hold a usable key (shorter than {MIN_SECRET_LENGTH} characters); "
            f"remove it to generate a new one or set {SECRET_KEY_ENV}"
        )
    return text


def _create_key_file(path: Path) -> None:
    # Written to a private temp file, then linked into place: concurrent first starts agree on
    # one key, and no reader ever sees a half-written file.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
