"""Structured logs: one JSON object per line, carrying the vendor, user, event id, job id and trace
id of whatever is being done, and never a token or secret.

Context travels in context variables, so every line logged while a request or a job runs carries
its ids without each call passing them:

    with log_context(trace_id=new_trace_id(), job_id=job.id, vendor=job.vendor):
        log.info("fetched")        # -> {"msg": "fetched", "trace_id": "...", "job_id": ..., ...}

`configure_logging("json" | "text" | None)` installs the handler (None: JSON unless stderr is a
terminal). HTTP requests get their trace id at the API's edge (`engine.api.edge`).

Redaction runs in the formatters and, for the HTTP server's own loggers (`uvicorn.access`,
`uvicorn.error`), in a filter on those loggers, so it applies whatever handler writes the line.
Besides the built-in patterns (tokens, codes and states by name, bearer credentials), the engine
registers, once its specs are loaded, the query parameters its webhook handshakes read and the
secret values its specs and settings use (`add_redactions`): those are hidden wherever they
appear. The patterns are compiled when something is registered, not per line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from engine.instants import iso_utc

CONTEXT_FIELDS = ("trace_id", "job_id", "event_id", "vendor", "user")
LOG_FORMATS = ("json", "text")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("engine_log_context", default=_EMPTY)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

REDACTED = "[redacted]"
# Field names whose values are never written out, whatever they hold.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|authorization|api_key|apikey|cookie|"
                         r"verifier|signature|credential|^code$)", re.IGNORECASE)
# Secrets embedded in free text: query strings, form bodies, headers, JSON fragments.
_BUILTIN_NAMES = (r"""\b(?:(?:access_token|refresh_token|id_token|client_secret|code_verifier|token|password|"""
                  r"""api_key|signature)["']?\s*[=:]\s*["']?|(?:code|state)=)""")
_VALUE = r"""(?P<value>[^&\s"',;}]+)"""
_SECRET_IN_TEXT = re.compile(rf"(?P<name>{_BUILTIN_NAMES}){_VALUE}", re.IGNORECASE)
# Registered secret values shorter than this are not hunted in free text (they would match words);
# the parameters that carry them are still redacted by name.
MIN_SECRET_CHARS = 6
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def is_trace_id(text: str) -> bool:
    """Whether a caller's request id is sane enough to log and echo as our trace id."""
    return bool(_TRACE_ID.match(text))


def new_trace_id() -> str:
    # A correlation id, not a secret: the seeded generator (reseeded in forked children), because
    # os.urandom is a system call that gives up the interpreter lock on every request.
    return f"{random.getrandbits(64):016x}"


class log_context:
    """Add `fields` (None values are skipped) to every log line written inside the block. A class
    rather than a generator-based context manager: it wraps every request and job."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: Any) -> None:
        self._fields = fields
        self._token: contextvars.Token[Mapping[str, Any]] | None = None

    def __enter__(self) -> None:
        added = {k: v for k, v in self._fields.items() if v is not None}
        self._token = _context.set({**_context.get(), **added})

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _context.reset(self._token)


class _Redactions:
    """The compiled form of what is registered: one pattern for values by parameter name (the
    built-in names plus the registered query parameters), one for the known secret values."""

    __slots__ = ("by_name", "params", "secrets", "values")

    def __init__(self, params: frozenset[str], values: frozenset[str]) -> None:
        self.params = params
        self.values = values
        names = _BUILTIN_NAMES
        if params:
            spellings = {form for name in params for form in _param_spellings(name)}
            alternatives = "|".join(re.escape(form) for form in sorted(spellings, key=len, reverse=True))
            # the name must start the parameter: after `?`, `&`, `;`, a space, a quote or nothing
            names = rf"{names}|(?<![\w.%~-])(?:{alternatives})="
        self.by_name = re.compile(rf"(?P<name>{names}){_VALUE}", re.IGNORECASE)
        forms = {form for value in values for form in _value_spellings(value)}
        self.secrets = (re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
                        if forms else None)


def _param_spellings(name: str) -> set[str]:
    return {name, quote(name, safe=""), quote_plus(name, safe=""), name.replace(".", "%2E")}


def _value_spellings(value: str) -> set[str]:
    """The value as it may appear in a line: as is, percent-encoded in a URL, escaped in JSON."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value, safe="")}
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(json.dumps(value)[1:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


_active = _Redactions(frozenset(), frozenset())
_registering = threading.Lock()


def add_redactions(*, query_params: Iterable[str] = (), values: Iterable[str | None] = ()) -> None:
    """Hide, in every later log line, the value of each query parameter named in `query_params`
    and each of `values` (secrets: client secrets, verify tokens, keys) wherever it appears. A
    comma-separated value (a secret during rotation) is hidden whole and part by part. Values
    shorter than MIN_SECRET_CHARS are hidden only where a parameter name gives them away."""
    wanted: set[str] = set()
    for value in values:
        if not value:
            continue
        for part in (value, *value.split(",")):
            part = part.strip()
            if len(part) >= MIN_SECRET_CHARS:
                wanted.add(part)
    params = {p for p in query_params if p}
    global _active
    with _registering:
        current = _active
        if params <= current.params and wanted <= current.values:
            return
        _active = _Redactions(current.params | params, current.values | wanted)


def redact_text(text: str) -> str:
    redactions = _active
    if redactions.secrets is not None:
        text = redactions.secrets.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "=" not in text and ":" not in text:  # no `name=value` nor `"name": value` (most fields)
        return text
    return redactions.by_name.sub(lambda m: m.group("name") + REDACTED, text)


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 -- a value that cannot be shown cannot leak either
        return value
    cleaned = redact_text(text)
    return value if cleaned == text else cleaned


_EXCEPTION_FORMATTER = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record in place, keeping the shape of its arguments (the HTTP server's access
    formatter reads them one by one)."""
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    args = record.args
    if isinstance(args, tuple) and args:
        record.args = tuple(_redact_arg(arg) for arg in args)
    elif isinstance(args, Mapping) and args:
        record.args = {key: _redact_arg(value) for key, value in args.items()}
    if record.name != "uvicorn.access" and record.args:
        # a name in the format string and its value in an argument: only the whole line shows it
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = None
        if message is not None:
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact_text(_EXCEPTION_FORMATTER.formatException(record.exc_info))


class RedactingFilter(logging.Filter):
    """Redacts every record it sees (and lets it through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Put the redacting filter on the HTTP server's loggers (idempotent). Works however the
    server's logging is configured: its own formatters see the records already redacted."""
    for name in _SERVER_LOGGERS:
        logging.getLogger(name).addFilter(_filter)  # adding the same filter twice is a no-op


def _clean(key: str, value: Any) -> Any:
    if isinstance(value, str) and value and _SECRET_KEY.search(key) and key not in CONTEXT_FIELDS:
        return REDACTED  # ints and flags under such names (token_version) say nothing secret
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(key, v) for v in value]
    return redact_text(str(value))


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context and `extra=` fields of a record, secrets redacted."""
    fields = dict(_context.get())
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    if "user_id" in fields and "user" not in fields:
        fields["user"] = fields.pop("user_id")
    return {key: _clean(key, value) for key, value in fields.items() if value is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": iso_utc(record.created, "milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        line.update(record_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = redact_text(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the same fields and the same redaction."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args, record.exc_info, record.exc_text
        record.msg, record.args = redact_text(record.getMessage()), ()
        record.exc_info = record.exc_text = None  # no tracebacks: the error line says enough
        try:
            text = super().format(record)
        finally:
            record.msg, record.args, record.exc_info, record.exc_text = saved
        fields = record_fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


# Marks the handler configure_logging installed, so a second call replaces it rather than adding one.
_ENGINE_HANDLER = "_engine_handler"


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each line (it may be replaced)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def default_format(stream: TextIO | None = None) -> str:
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(log_format: str | None = None, level: int | str = logging.INFO,
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log line (the engine's, the HTTP server's, libraries') through one handler on
    the root logger; returns it. `log_format` None picks JSON unless the stream is a terminal."""
    chosen = log_format or default_format(stream)
    if chosen not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {chosen!r}")
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _ENGINE_HANDLER, False):
            root.removeHandler(old)
    setattr(handler, _ENGINE_HANDLER, True)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # one format for every line
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True
    install_log_redaction()
    return handler
