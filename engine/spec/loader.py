"""Loading vendor specs for the runtime: file -> checked, compiled ``Spec`` (or ``SpecError``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.spec.document import LocatedIssue
from engine.spec.errors import SpecError
from engine.spec.model import Spec
from engine.spec.validate import check_file

SPEC_SUFFIXES = (".yaml", ".yml")


def load_spec(path: str | Path, env: Mapping[str, str] | None = None) -> Spec:
    """Read, check and compile one spec; raises SpecError whose issues carry file, line and col.

    ``env`` supplies ``${VAR}`` values (default: the process environment).
    """
    report = check_file(path, env=env)
    if report.issues or report.spec is None:
        raise SpecError(list(report.issues), str(path))
    return report.spec


def spec_files(directory: str | Path) -> list[Path]:
    root = Path(directory)
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in SPEC_SUFFIXES)


def load_specs_dir(
    directory: str | Path, only: Iterable[str] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Spec]:
    """Every spec in ``directory`` keyed by spec id; ``only`` limits to these file stems
    (``vendors/<id>.yaml``, so stems are the ids of the shipped specs).

    Raises SpecError listing the issues of every file that failed, or an unknown name in ``only``.
    """
    wanted = set(only) if only is not None else None
    specs: dict[str, Spec] = {}
    issues: list[LocatedIssue] = []
    seen: set[str] = set()
    for path in spec_files(directory):
        if wanted is not None and path.stem not in wanted:
            continue
        seen.add(path.stem)
        report = check_file(path, env=env)
        if report.issues or report.spec is None:
            issues.extend(report.issues)
            continue
        spec = report.spec
        if spec.id in specs:
            issues.append(LocatedIssue(("id",), "spec.duplicate_id",
                                       f"spec id {spec.id!r} is used by another file too", None,
                                       str(path), 1, 1))
            continue
        specs[spec.id] = spec
    if wanted is not None:
        for name in sorted(wanted - seen - set(specs)):
            issues.append(LocatedIssue((), "spec.not_found", f"no spec named {name!r}", None,
                                       str(directory), 0, 0))
    if issues:
        raise SpecError(issues, str(directory))
    return specs
