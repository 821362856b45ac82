"""Reading a spec file safely into plain data, remembering where every node was written.

YAML 1.2 scalar semantics (only ``true``/``false`` are booleans, so ``on``/``yes`` stay strings;
no sexagesimal numbers, no timestamps), duplicate keys rejected, size and depth capped, and
aliases expanded under a node budget so a hostile file cannot blow up memory or the stack.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from engine.spec.env import EnvSyntaxError, interpolate
from engine.spec.errors import SpecIssue

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
# Nodes as written, and once aliases are expanded (the largest shipped spec has under a
# thousand): enough for any spec, few enough that checking the largest document allowed stays
# well under a second.
MAX_WRITTEN_NODES = 10_000
MAX_NODES = 50_000
# Characters of scalar text once aliases are expanded: a file without aliases holds at most
# MAX_BYTES of it, so only an alias bomb (one long string referenced over and over) reaches this.
MAX_EXPANDED_CHARS = 2 * MAX_BYTES

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LocatedIssue(SpecIssue):
    """A spec issue placed in its file (1-based line and column; 0 when unknown)."""

    file: str = ""
    line: int = 0
    col: int = 0


class DocumentError(Exception):
    """The file cannot be read as a spec document at all (IO, encoding, YAML syntax, shape)."""

    def __init__(self, issues: list[LocatedIssue], *, io_error: bool = False) -> None:
        self.issues = issues
        self.io_error = io_error  # unreadable or missing file, rather than bad content
        super().__init__(issues[0].message if issues else "unreadable document")


@dataclass(frozen=True, slots=True)
class EnvReference:
    json_path: JsonPath
    name: str
    has_default: bool
    placeholder: bool = False  # a {env:NAME} template placeholder rather than ${NAME}


@dataclass(slots=True)
class Document:
    path: str
    data: dict[str, Any]  # as written, before ${VAR} interpolation
    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, json_path: JsonPath) -> tuple[int, int]:
        """Where the node at ``json_path`` (or its nearest written ancestor) starts."""
        for end in range(len(json_path), -1, -1):
            found = self.positions.get(tuple(json_path[:end]))
            if found is not None:
                return found
        return (1, 1)

    def locate_key(self, json_path: JsonPath) -> tuple[int, int]:
        """Where the key introducing ``json_path`` was written (falls back to the node)."""
        found = self.key_positions.get(tuple(json_path))
        return found if found is not None else self.locate(json_path)

    def issue(
        self, json_path: JsonPath, code: str, message: str, suggestion: str | None = None,
        *, at_key: bool = False,
    ) -> LocatedIssue:
        line, col = self.locate_key(json_path) if at_key else self.locate(json_path)
        return LocatedIssue(tuple(json_path), code, message, suggestion, self.path, line, col)


# --- reading -----------------------------------------------------------------------------------


def read_document(path: str | Path) -> Document:
    """Read and parse one spec file; raises DocumentError with located issues."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise DocumentError([_file_issue(name, "io.not_found", "no such file")], io_error=True) from None
    except IsADirectoryError:
        raise DocumentError([_file_issue(name, "io.unreadable", "is a directory")], io_error=True) from None
    except OSError as exc:
        message = f"cannot read: {exc.strerror or type(exc).__name__}"
        raise DocumentError([_file_issue(name, "io.unreadable", message)], io_error=True) from None
    if len(raw) > MAX_BYTES:
        raise DocumentError([_file_issue(
            name, "io.too_large", f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB")])
    return parse_document(decode(raw, name), name)


def decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        raise DocumentError([_file_issue(name, "io.binary", "binary file (contains NUL bytes)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DocumentError([LocatedIssue(
            (), "io.encoding", f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x})",
            None, name, line, col)]) from None
    return text.removeprefix("\ufeff")


def plain_yaml_error(exc: yaml.MarkedYAMLError) -> tuple[str, Any]:
    """The parser's complaint in plain words, at the line where the structure broke: an unclosed
    quote or bracket is shown where it opened, not where the file ran out."""
    context, problem = exc.context or "", exc.problem or ""
    opened, found = exc.context_mark, exc.problem_mark
    where = f" (the parser gave up at line {found.line + 1})" if found and opened and found.line != opened.line else ""
    if "quoted scalar" in context:
        return f"a quoted string starts here and is never closed{where}", opened or found
    if "flow sequence" in context or "flow mapping" in context:
        bracket = "[" if "sequence" in context else "{"
        return f"the '{bracket}' opened here is not closed where expected{where}", opened or found
    if "'\\t'" in problem:  # PyYAML shows the character as Python would
        return "a tab character: YAML indents with spaces only", found
    if "block mapping" in context or "block collection" in context or "block sequence" in context:
        return ("this line is indented differently from the block it belongs to (started at line "
                f"{opened.line + 1 if opened else '?'}); a list item or a key may be missing or "
                "misaligned above it"), found
    if "mapping values are not allowed" in problem:
        return ("a ':' inside a value: this line may be indented deeper than the keys around it "
                "(so it continues the value above), or the value needs quotes because it contains "
                "': '"), found
    if "could not find expected ':'" in problem:
        return "a key without ':' (or a value continued on a line of its own)", opened or found
    if "undefined alias" in problem or "found undefined" in problem:
        return f"{problem}: an alias (*name) must refer to an anchor (&name) written before it", found
    text = " ".join(part for part in (context, problem) if part) or "invalid YAML"
    return f"YAML syntax: {text}", found or opened


def parse_document(text: str, name: str = "<spec>") -> Document:
    """Parse YAML text into a Document; the top level must be a mapping."""
    try:
        node = _compose(text, name)
    except yaml.MarkedYAMLError as exc:
        message, mark = plain_yaml_error(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DocumentError([LocatedIssue((), "yaml.syntax", message, None, name, line, col)]) from None
    except yaml.YAMLError as exc:
        raise DocumentError([_file_issue(name, "yaml.syntax", f"invalid YAML: {exc}")]) from None
    except UnicodeError:  # text holding lone surrogates (never read from a file: decode rejects them)
        raise DocumentError([_file_issue(name, "io.encoding", "not valid Unicode text")]) from None
    except RecursionError:  # a last resort: the composers below stop at MAX_DEPTH first
        raise DocumentError([_file_issue(
            name, "yaml.too_deep", f"nested deeper than {MAX_DEPTH} levels")]) from None
    if node is None:
        raise DocumentError([_file_issue(name, "yaml.not_mapping", "empty document; a spec is a mapping")])
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise DocumentError([LocatedIssue(
            (), "yaml.not_mapping", f"the top level must be a mapping of keys, not {kind}", None,
            name, node.start_mark.line + 1, node.start_mark.column + 1)])
    builder = _Builder(name)
    try:
        data = builder.build(node, (), 0)
    except RecursionError:  # a last resort: the builder stops at MAX_DEPTH first
        raise DocumentError([_file_issue(
            name, "yaml.too_deep", f"nested deeper than {MAX_DEPTH} levels")]) from None
    if builder.issues:
        raise DocumentError(builder.issues)
    return Document(name, data, builder.positions, builder.key_positions)


def _file_issue(name: str, code: str, message: str) -> LocatedIssue:
    return LocatedIssue((), code, message, None, name, 1, 1)


class _Mark(Protocol):
    """Where an event starts: PyYAML's and libyaml's marks alike (0-based)."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


def _line_column(mark: _Mark | None) -> tuple[int, int]:
    """1-based, or 0 when unknown (both parsers mark every event)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _too_deep(name: str, mark: _Mark | None) -> DocumentError:
    return DocumentError([LocatedIssue(
        (), "yaml.too_deep", f"nested deeper than {MAX_DEPTH} levels", None,
        name, *_line_column(mark))])


def _too_many_nodes(name: str, mark: _Mark | None) -> DocumentError:
    return DocumentError([LocatedIssue(
        (), "yaml.too_many_nodes", f"more than {MAX_WRITTEN_NODES} nodes", None,
        name, *_line_column(mark))])


_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)


def _check_shape(text: str, name: str) -> None:
    """Reject deep nesting and more nodes than the builder takes before libyaml composes (its
    composer recurses once per level, and a 2 MiB file of tiny nodes is a million of them).

    A YAML error propagates: the document is then composed again in Python, whose own composer
    counts the same (the two parsers do not reject the same documents: libyaml refuses a
    `%YAML 1.3` directive that PyYAML accepts)."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, _NODE_EVENTS):
            nodes += 1
            if nodes > MAX_WRITTEN_NODES:
                raise _too_many_nodes(name, event.start_mark)
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(name, event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


# --- YAML 1.2 core schema resolution -----------------------------------------------------------


class _Resolver12(yaml.resolver.BaseResolver):
    pass


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

_Resolver12.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Resolver12.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
_Resolver12.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)
_Resolver12.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _Resolver12):
    """PyYAML's reader, scanner, parser and composer with the YAML 1.2 resolver; the composer
    refuses to nest deeper than MAX_DEPTH collections (it recurses once per level) or to compose
    more than MAX_WRITTEN_NODES nodes."""

    def __init__(self, stream: str, name: str = "<spec>") -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver12.__init__(self)
        self.name = name
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        self.nodes += 1
        if self.nodes > MAX_WRITTEN_NODES:
            raise _too_many_nodes(self.name, event.start_mark)
        if not isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _too_deep(self.name, event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Composer(Protocol):
    def get_single_node(self) -> yaml.Node | None: ...

    def dispose(self) -> None: ...


_FAST_LOADER: Callable[[str], _Composer] | None = None
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLoader(CParser, _Resolver12):
        """libyaml's scanner and composer with the same YAML 1.2 resolver (same nodes and marks)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver12.__init__(self)

    _FAST_LOADER = _FastLoader


def _single_node(loader: _Composer) -> yaml.Node | None:
    """What `yaml.compose` does, for any loader (its stubs only name PyYAML's own)."""
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _compose(text: str, name: str) -> yaml.Node | None:
    """Compose with libyaml when present (10x faster start-up), after counting depth and nodes
    over its events; a document it rejects is composed again in Python so error messages stay the
    same everywhere."""
    if _FAST_LOADER is not None:
        try:
            _check_shape(text, name)
            return _single_node(_FAST_LOADER(text))
        except yaml.YAMLError:
            pass
    return _single_node(_Loader(text, name))


def _scalar(node: yaml.ScalarNode) -> Any:
    text, tag = node.value, node.tag
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() == "true"
    if tag == _INT:
        if text.startswith(("0o", "0x")):
            return int(text, 0)
        return int(text, 10)
    if tag == _FLOAT:
        lowered = text.lower().lstrip("+")
        if lowered in (".inf", "-.inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        return float(text)
    raise ValueError(f"unsupported tag {tag}")


class _Builder:
    """Turns composed nodes into plain data, recording positions and collecting problems."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.positions: dict[JsonPath, tuple[int, int]] = {}
        self.key_positions: dict[JsonPath, tuple[int, int]] = {}
        self.issues: list[LocatedIssue] = []
        self.nodes = 0
        self.chars = 0

    def _issue(self, node: yaml.Node, path: JsonPath, code: str, message: str) -> None:
        mark = node.start_mark
        self.issues.append(LocatedIssue(path, code, message, None, self.name, mark.line + 1, mark.column + 1))

    def _expansion_error(self, path: JsonPath, code: str, message: str) -> DocumentError:
        # Aliased nodes carry their anchor's position; blame the top-level entry instead.
        line, col = self.key_positions.get(path[:1], (1, 1))
        return DocumentError([LocatedIssue(path[:1], code, message, None, self.name, line, col)])

    def _count_chars(self, text: str, path: JsonPath) -> None:
        self.chars += len(text)
        if self.chars > MAX_EXPANDED_CHARS:
            raise self._expansion_error(
                path, "yaml.too_large_expanded",
                f"more than {MAX_EXPANDED_CHARS} characters of text once aliases are expanded")

    def build(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._expansion_error(
                path, "yaml.too_many_nodes", f"more than {MAX_NODES} nodes once aliases are expanded")
        if isinstance(node, yaml.ScalarNode):
            self._count_chars(node.value, path)
        if depth > MAX_DEPTH:  # reachable only through self-referencing aliases
            raise DocumentError([LocatedIssue(
                path[:MAX_DEPTH // 8], "yaml.too_deep", f"nested deeper than {MAX_DEPTH} levels", None, self.name,
                node.start_mark.line + 1, node.start_mark.column + 1)])
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            try:
                return _scalar(node)
            except ValueError:
                if node.tag == _INT:  # more digits than Python converts
                    self._issue(node, path, "yaml.number_too_long", "integer has too many digits")
                else:
                    self._issue(node, path, "yaml.unsupported_tag",
                                f"unsupported YAML tag {node.tag!r}; write plain values")
                return None
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._issue(node, path, "yaml.unsupported_tag", f"unsupported YAML tag {node.tag!r}")
            return [self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
        if node.tag != _MAP:
            self._issue(node, path, "yaml.unsupported_tag", f"unsupported YAML tag {node.tag!r}")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._issue(key_node, path, "yaml.bad_key", "mapping keys must be plain text")
                continue
            key = key_node.value
            self._count_chars(key, path)
            child = (*path, key)
            key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                first = self.key_positions.get(child, (0, 0))
                self.issues.append(LocatedIssue(
                    child, "yaml.duplicate_key",
                    f"duplicate key {key!r} (first written at line {first[0]})", None,
                    self.name, *key_mark))
                continue
            self.key_positions[child] = key_mark
            result[key] = self.build(value_node, child, depth + 1)
        return result


# --- environment references --------------------------------------------------------------------

_ENV_PLACEHOLDER = re.compile(r"(?<!\{)\{\s*env:([A-Za-z0-9_.\-]+)\s*\}")


def iter_strings(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, str]]:
    """Every string in ``data`` with its path, in document order (a loop over a stack rather
    than nested generators, so a large document costs one step per node, not one per level)."""
    stack: list[tuple[JsonPath, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            stack.extend(((*where, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*where, index), item) for index, item in reversed(list(enumerate(value))))


def env_references(doc: Document) -> tuple[list[EnvReference], list[LocatedIssue]]:
    """Every ``${VAR}`` and ``{env:NAME}`` reference, and malformed ``${`` syntax."""
    refs: list[EnvReference] = []
    issues: list[LocatedIssue] = []
    for path, text in iter_strings(doc.data):
        if "${" in text:
            try:
                interpolate(text, {})
            except EnvSyntaxError as exc:
                issues.append(doc.issue(path, "env.syntax", str(exc)))
                continue
            for match in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?", text):
                refs.append(EnvReference(path, match.group(1), bool(match.group(2))))
        for match in _ENV_PLACEHOLDER.finditer(text):
            refs.append(EnvReference(path, match.group(1), False, placeholder=True))
    return refs, issues


def interpolated(data: Any, env: Mapping[str, str]) -> tuple[Any, list[str]]:
    """A copy of ``data`` with ``${VAR}`` references replaced; also the names left unset.

    Call only on data whose references passed ``env_references`` (malformed syntax raises).
    """
    missing: list[str] = []

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            text, unset = interpolate(value, env)
            missing.extend(unset)
            return text
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    result = walk(data)
    return result, list(dict.fromkeys(missing))
