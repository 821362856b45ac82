"""Which values of a spec are secrets, so that no log line or error shows them: the query
parameters its handshakes read, its client secret, and every `{env:…}` or `${…}` value it uses as
a key, token or verify code. The composition root registers them with the log redaction."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.spec.model import HandshakeQueryEcho, HandshakeVerifyCode, Spec
from engine.spec.template import Template

# Names of env variables, fields, headers and parameters whose values are secret.
_SECRET_NAME = re.compile(r"(token|secret|password|passwd|authorization|api[_-]?key|[_-]key$|credential|"
                          r"signature|verif|^code$|^key$|^value$|cookie)", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CODE|CREDENTIAL|SIGNATURE)", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token)\s+", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a field, header or parameter of this name carries a secret."""
    return bool(_SECRET_NAME.search(name))


def spec_secrets(spec: Spec, env: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """(query parameters carrying a handshake secret, secret values) of one spec."""
    params: set[str] = set()
    values: set[str] = {spec.auth.client_secret}
    if spec.webhooks is not None:
        for handshake in spec.webhooks.handshakes:
            if isinstance(handshake, HandshakeQueryEcho):
                params.add(handshake.token_param)
            elif isinstance(handshake, HandshakeVerifyCode):
                params.add(handshake.param)
    for field, template in _templates(spec, ""):
        secret_field = bool(_SECRET_NAME.search(field))
        for name in template.names:
            if name.startswith("env:") and (secret_field or _SECRET_ENV.search(name[4:])):
                values.add(env.get(name[4:], ""))
        if secret_field and not template.names and template.text:
            # a `${NAME}` secret is already substituted into the template's text
            values.add(template.text)
            values.add(_AUTH_SCHEME.sub("", template.text))
    values.discard("")
    return params, values


def _templates(value: Any, field: str) -> Iterator[tuple[str, Template]]:
    """Every template of a compiled spec, with the name of the field, header or key it sits in."""
    if isinstance(value, Template):
        yield field, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _templates(getattr(value, item.name), item.name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, str(key))
    elif isinstance(value, (tuple, list)):
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], Template):
            yield value[0], value[1]  # a (header or parameter name, template) pair
            return
        for item in value:
            yield from _templates(item, field)
