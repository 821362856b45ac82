"""Asymmetric signatures: the vendor's public keys and the checks of ECDSA P-256, Ed25519 and RSA
PKCS#1 v1.5 signatures made with them (`verify: {type: signature}`; `verify.py` reads the delivery).

A public key is PEM (real newlines or `\\n` escapes, as an environment variable can hold it) or bare
base64 DER SubjectPublicKeyInfo. A key that does not parse, or is of another kind than the
algorithm, is a configuration error (`KeyUnusable`), never a sign of a forged delivery.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from engine.spec.model import VerifySignature

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
MAX_SIGNATURE_BYTES = 1024  # RSA-4096 signs in 512 bytes; anything longer is not a signature
_KIND = {"ecdsa_p256_sha256": "an EC P-256 key", "ed25519": "an Ed25519 key",
         "rsa_pkcs1_sha256": "an RSA key"}


class KeyUnusable(ValueError):
    """The configured public key cannot check this algorithm's signatures (the message names no key
    material)."""


def load_public_key(text: str, algorithm: str) -> PublicKey:
    text = text.strip().replace("\\n", "\n")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, UnsupportedAlgorithm):
        raise KeyUnusable("the public key is neither PEM nor base64 DER") from None
    if algorithm == "ecdsa_p256_sha256":
        fits = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    elif algorithm == "ed25519":
        fits = isinstance(key, ed25519.Ed25519PublicKey)
    else:
        fits = isinstance(key, rsa.RSAPublicKey)
    if not fits:
        raise KeyUnusable(f"the public key is not {_KIND[algorithm]}")
    return key  # type: ignore[return-value]  # narrowed by `fits`


def any_valid(verify: VerifySignature, keys: Iterable[PublicKey], signature: bytes, message: bytes) -> bool:
    """Whether one of `keys` made `signature` over `message`. Every key is tried, so the time
    taken does not say which one matched."""
    valid = False
    for key in keys:
        valid |= _valid(verify, key, signature, message)
    return valid


def decode_signature(verify: VerifySignature, text: str) -> bytes | None:
    try:
        if verify.encoding == "hex":
            raw = bytes.fromhex(text)
        else:
            data = text.encode("ascii")
            if verify.encoding == "base64url":
                raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
            else:
                raw = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
    return raw if 0 < len(raw) <= MAX_SIGNATURE_BYTES else None


def _valid(verify: VerifySignature, key: PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if verify.format == "raw":
                if len(signature) != 64:
                    return False
                signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                                 int.from_bytes(signature[32:], "big"))
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
