"""`defaults:` blocks: values many blocks of a spec share, written once and merged in as data.

A spec may hold a top-level ``defaults:`` mapping and each resource a ``defaults:`` mapping of its
own. They are merged into the document before anything else checks it, so the schema and the
compiler see the spec as if every value had been written out in full; ``defaults`` keys are gone
from the merged document.

- ``defaults.list``, ``defaults.get``, ``defaults.changes``: merged into that block of every
  resource that writes the block (``get: {}`` takes the whole default; a resource without a
  ``get`` gets none).
- ``defaults.samples``: merged into every sample mapping of every resource, but those that
  explode an array (write ``each:``).
- ``defaults.each_samples``: merged into every sample mapping that writes ``each:``, instead of
  ``defaults.samples``: such a mapping reads the record as ``record.`` and the array's item as
  ``item.``, so the paths written for a record do not fit it.
- ``defaults.events``: merged into every event extractor under ``webhooks.events``.
- ``defaults.subscriptions.create``, ``.subscribe``, ``.unsubscribe``: merged into every request
  of ``subscriptions.app.create``, ``subscriptions.per_user.subscribe`` and ``.unsubscribe``.
- ``resources.<name>.defaults.samples`` and ``.each_samples``: merged into that resource's
  sample mappings, over the spec-level ``samples`` and ``each_samples``.

Merging is JSON Merge Patch (RFC 7386) with the block as the patch over its defaults: mappings
merge key by key, recursively; the value the block writes wins; lists and scalars are replaced
whole; a key the block writes as ``null`` removes the default for that key. One difference: a
``null`` with no default under it stays, as written (a JSON body may mean it). Keys come in the
defaults' order, then the block's own (the order is kept where it is seen: query parameters,
JSON bodies, the values of a mapped sample).

Every merged value keeps the position where it was written: a value taken from a default is
located at its line in ``defaults``, and an issue inside it is reported at the default's own
JSON path (once, however many blocks took it). A default that no block takes is an error, as is
an unknown key in a ``defaults`` block. The merged document is held to the reader's node cap
(``MAX_NODES``): a few defaults taken by many blocks cannot blow it up.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from engine.spec.document import MAX_NODES, Document, JsonPath, LocatedIssue
from engine.spec.errors import closest

SPEC_DEFAULT_KEYS = ("list", "get", "changes", "samples", "each_samples", "events",
                     "subscriptions")
RESOURCE_DEFAULT_KEYS = ("samples", "each_samples")
BLOCK_KEYS = ("list", "get", "changes")
# the sample defaults -> the samples they are merged into
_SAMPLE_KINDS = {"samples": "samples without `each:`",
                 "each_samples": "samples that explode an array (with `each:`)"}
# defaults.subscriptions.<key> -> the list of requests it is merged into
SUBSCRIPTION_LISTS: dict[str, tuple[str, str, str]] = {
    "create": ("subscriptions", "app", "create"),
    "subscribe": ("subscriptions", "per_user", "subscribe"),
    "unsubscribe": ("subscriptions", "per_user", "unsubscribe"),
}


@dataclass(slots=True)
class Defaulted:
    """The document with its defaults merged in (None when a ``defaults`` block is malformed)."""

    document: Document | None
    issues: list[LocatedIssue] = field(default_factory=list)
    # Root of each value copied from a default (in the merged document) -> where it was written.
    origins: dict[JsonPath, JsonPath] = field(default_factory=dict)

    def written_at(self, issues: Iterable[LocatedIssue]) -> list[LocatedIssue]:
        """Issues inside a copied default re-pathed to the default itself, where the author
        wrote the value (their line and column already point there)."""
        if not self.origins:
            return list(issues)
        return [replace(i, json_path=self.source(i.json_path)) for i in issues]

    def source(self, path: JsonPath) -> JsonPath:
        path = tuple(path)
        for _ in range(4):  # a resource's sample defaults can take spec-level ones: two hops
            for end in range(len(path), 0, -1):
                origin = self.origins.get(path[:end])
                if origin is not None:
                    path = origin + path[end:]
                    break
            else:
                return path
        return path


def apply_defaults(doc: Document) -> Defaulted:
    """Merge the document's ``defaults`` blocks; a document without any is returned as it is."""
    data = doc.data
    resources = data.get("resources")
    resource_defaults = isinstance(resources, dict) and any(
        isinstance(r, dict) and "defaults" in r for r in resources.values())
    if "defaults" not in data and not resource_defaults:
        return Defaulted(doc)
    merger = _Merger(doc)
    issues = merger.check_shape()
    if issues:
        return Defaulted(None, issues)
    try:
        merged = merger.merge_document()
    except _TooLarge:
        at: JsonPath = ("defaults",) if "defaults" in data else next(
            ("resources", name, "defaults") for name, r in merger.resources.items()
            if isinstance(r, dict) and "defaults" in r)
        return Defaulted(None, [doc.issue(
            at, "defaults.too_large",
            f"the defaults expand the spec to more than {MAX_NODES} nodes once merged",
            at_key=True)])
    document = Document(doc.path, merged, merger.positions, merger.key_positions)
    return Defaulted(document, merger.unused(), merger.origins)


class _TooLarge(Exception):
    pass


class _Merger:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.budget = MAX_NODES - len(doc.positions)  # nodes the merge may still add
        self.positions = dict(doc.positions)
        self.key_positions = dict(doc.key_positions)
        self.origins: dict[JsonPath, JsonPath] = {}
        self.used: set[JsonPath] = set()
        resources = doc.data.get("resources")
        self.resources: dict[str, Any] = resources if isinstance(resources, dict) else {}

    # -- shape ----------------------------------------------------------------------------------

    def check_shape(self) -> list[LocatedIssue]:
        issues: list[LocatedIssue] = []
        if "defaults" in self.doc.data:
            top = self.doc.data["defaults"]
            issues += self._check_block(top, ("defaults",), SPEC_DEFAULT_KEYS)
            if not issues and "subscriptions" in top:
                issues += self._check_block(top["subscriptions"], ("defaults", "subscriptions"),
                                            tuple(SUBSCRIPTION_LISTS))
        for name, resource in self.resources.items():
            if isinstance(resource, dict) and "defaults" in resource:
                issues += self._check_block(resource["defaults"], ("resources", name, "defaults"),
                                            RESOURCE_DEFAULT_KEYS)
        return issues

    def _check_block(self, block: Any, at: JsonPath,
                     allowed: tuple[str, ...]) -> list[LocatedIssue]:
        doc = self.doc
        if not isinstance(block, dict):
            return [doc.issue(at, "defaults.type", f"expected a mapping of {_or(allowed)}, got "
                              f"{_kind(block)}")]
        issues = []
        for key, value in block.items():
            if key not in allowed:
                message = f"unknown key {key!r} in defaults"
                suggestion = closest(str(key), allowed)
                if allowed == RESOURCE_DEFAULT_KEYS and key in SPEC_DEFAULT_KEYS:
                    message += ("; a resource's defaults hold only samples and each_samples "
                                f"(defaults for every {key!r} block go in the top-level defaults)")
                elif suggestion is None:
                    message += f"; expected {_or(allowed)}"
                issues.append(doc.issue((*at, key), "defaults.unknown_key", message,
                                        suggestion, at_key=True))
            elif not isinstance(value, dict):
                what = {"events": "an event extractor", "samples": "a sample mapping",
                        "each_samples": "a sample mapping",
                        "subscriptions": "the subscription request lists"}.get(
                    key, "a request" if key in SUBSCRIPTION_LISTS else f"a {key!r} block")
                issues.append(doc.issue(
                    (*at, key), "defaults.type",
                    f"expected the keys of {what} (a mapping), got {_kind(value)}"))
        return issues

    # -- merging --------------------------------------------------------------------------------

    def merge_document(self) -> dict[str, Any]:
        data = self.doc.data
        spec_defaults: dict[str, Any] = data.get("defaults") or {}
        merged = {key: value for key, value in data.items() if key != "defaults"}
        if isinstance(data.get("resources"), dict):
            merged["resources"] = {name: self._resource(name, resource, spec_defaults)
                                   for name, resource in self.resources.items()}
        if "events" in spec_defaults and isinstance(data.get("webhooks"), dict):
            merged["webhooks"] = self._webhooks(data["webhooks"], spec_defaults["events"])
        if "subscriptions" in spec_defaults and isinstance(data.get("subscriptions"), dict):
            merged["subscriptions"] = self._subscriptions(data["subscriptions"],
                                                          spec_defaults["subscriptions"])
        return merged

    def _resource(self, name: str, resource: Any, spec_defaults: dict[str, Any]) -> Any:
        if not isinstance(resource, dict):
            return resource
        at: JsonPath = ("resources", name)
        out = {key: value for key, value in resource.items() if key != "defaults"}
        for block in BLOCK_KEYS:
            if block in spec_defaults and isinstance(out.get(block), dict):
                out[block] = self.merge(spec_defaults[block], ("defaults", block), out[block],
                                        (*at, block))
                self.used.add(("defaults", block))
        samples = out.get("samples")
        if not isinstance(samples, list):
            return out
        kinds = {key: self._sample_defaults(name, resource, spec_defaults, key)
                 for key in _SAMPLE_KINDS}
        merged = []
        for index, sample in enumerate(samples):
            if isinstance(sample, dict):
                defaults, defaults_at, sources = kinds[
                    "each_samples" if sample.get("each") is not None else "samples"]
                if defaults is not None:
                    sample = self.merge(defaults, defaults_at, sample, (*at, "samples", index))
                    self.used.update(sources)
            merged.append(sample)
        out["samples"] = merged
        return out

    def _sample_defaults(
        self, name: str, resource: dict[str, Any], spec_defaults: dict[str, Any], key: str
    ) -> tuple[dict[str, Any] | None, JsonPath, list[JsonPath]]:
        """The `key` (samples or each_samples) defaults of one resource: its own over the
        spec-level ones (merged the same way, in place at the resource's `defaults.<key>`)."""
        spec_level = spec_defaults.get(key)
        spec_at: JsonPath = ("defaults", key)
        own = (resource.get("defaults") or {}).get(key)
        own_at: JsonPath = ("resources", name, "defaults", key)
        if own is None:
            return spec_level, spec_at, [spec_at]
        if spec_level is None:
            return own, own_at, [own_at]
        return self.merge(spec_level, spec_at, own, own_at), own_at, [own_at, spec_at]

    def _webhooks(self, webhooks: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        at: JsonPath = ("webhooks", "events")
        events = webhooks.get("events")
        out = dict(webhooks)
        if isinstance(events, dict):
            out["events"] = self.merge(defaults, ("defaults", "events"), events, at)
            self.used.add(("defaults", "events"))
        elif isinstance(events, list):
            merged = []
            for index, extractor in enumerate(events):
                if isinstance(extractor, dict):
                    extractor = self.merge(defaults, ("defaults", "events"), extractor,
                                           (*at, index))
                    self.used.add(("defaults", "events"))
                merged.append(extractor)
            out["events"] = merged
        return out

    def _subscriptions(self, subscriptions: dict[str, Any],
                       defaults: dict[str, Any]) -> dict[str, Any]:
        out = dict(subscriptions)
        for key, default in defaults.items():
            _, group, name = at = SUBSCRIPTION_LISTS[key]
            block = out.get(group)
            if not isinstance(block, dict) or not isinstance(block.get(name), list):
                continue
            requests = block[name]
            merged = []
            for index, request in enumerate(requests):
                if isinstance(request, dict):
                    request = self.merge(default, ("defaults", "subscriptions", key), request,
                                         (*at, index))
                    self.used.add(("defaults", "subscriptions", key))
                merged.append(request)
            out[group] = {**block, name: merged}
        return out

    def merge(self, default: dict[str, Any], default_at: JsonPath, target: dict[str, Any],
              target_at: JsonPath) -> dict[str, Any]:
        """``target`` merged over ``default`` (the defaults' keys first); records where every
        value taken from the default was written."""
        out: dict[str, Any] = {}
        for key, taken in default.items():
            if key not in target:
                self._copy_positions(taken, (*default_at, key), (*target_at, key))
                out[key] = copy.deepcopy(taken)
                self.origins[(*target_at, key)] = (*default_at, key)
                continue
            value = target[key]
            if value is None:  # the block removes this default
                self._forget((*target_at, key))
                continue
            if isinstance(taken, dict) and isinstance(value, dict):
                value = self.merge(taken, (*default_at, key), value, (*target_at, key))
            out[key] = value
        for key, value in target.items():
            if key not in default:
                out[key] = value
        return out

    def _copy_positions(self, value: Any, source: JsonPath, target: JsonPath) -> None:
        for sub in _subpaths(value):
            self.budget -= 1
            if self.budget < 0:
                raise _TooLarge
            found = self.positions.get(source + sub)
            if found is not None:
                self.positions[target + sub] = found
            found = self.key_positions.get(source + sub)
            if found is not None:
                self.key_positions[target + sub] = found

    def _forget(self, path: JsonPath) -> None:
        self.positions.pop(path, None)
        self.key_positions.pop(path, None)

    # -- defaults nothing takes -----------------------------------------------------------------

    def unused(self) -> list[LocatedIssue]:
        doc = self.doc
        issues = []
        spec_defaults = doc.data.get("defaults") or {}
        for key in spec_defaults:
            at = ("defaults", key)
            if key == "subscriptions":
                for name, where in SUBSCRIPTION_LISTS.items():
                    if name in spec_defaults[key] and (*at, name) not in self.used:
                        issues.append(doc.issue(
                            (*at, name), "defaults.unused", "this default is used nowhere: the "
                            f"spec has no requests under {'.'.join(where)}", at_key=True))
                continue
            if at in self.used:
                continue
            if key in BLOCK_KEYS:
                why = (f"no resource writes a {key!r} block (a default only fills blocks a "
                       f"resource writes, even as `{key}: {{}}`)")
            elif key in _SAMPLE_KINDS:
                why = f"no resource has {_SAMPLE_KINDS[key]}"
            else:
                why = "the spec has no webhooks.events"
            issues.append(doc.issue(at, "defaults.unused", f"this default is used nowhere: {why}",
                                    at_key=True))
        for name, resource in self.resources.items():
            own = resource.get("defaults") if isinstance(resource, dict) else None
            for key, what in _SAMPLE_KINDS.items():
                own_at = ("resources", name, "defaults", key)
                if own and key in own and own_at not in self.used:
                    issues.append(doc.issue(
                        own_at, "defaults.unused",
                        f"this default is used nowhere: resource {name!r} has no {what}",
                        at_key=True))
        return issues



def _subpaths(value: Any, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _subpaths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _subpaths(child, (*prefix, index))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else f"the single value {value!r}"


def _or(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
