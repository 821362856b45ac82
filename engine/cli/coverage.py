"""`engine coverage [--write README.md] [--check]`: the coverage matrix generated from the specs.

`--write` replaces the text between the `<!-- coverage:start -->` and `<!-- coverage:end -->`
markers (appending them when absent); `--check` exits 1 when the file is not up to date. The
matrix itself is `engine.coverage`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.coverage import load_all, render, splice
from engine.spec.errors import SpecError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "coverage", help="print (or write into a README) the vendor coverage matrix",
        description="Generate the vendor × sample type and vendor × webhook/pagination/PKCE tables "
        "from the specs. Exit 0, 1 when --check finds the file out of date, 2 on unreadable input.")
    parser.add_argument("--vendors", default="vendors", metavar="DIR", help="folder of specs (default vendors)")
    parser.add_argument("--write", metavar="FILE", help="replace the marked block of FILE (e.g. README.md)")
    parser.add_argument("--check", metavar="FILE", help="exit 1 when FILE's marked block is out of date")
    parser.set_defaults(handler=run_coverage)


def run_coverage(args: argparse.Namespace) -> int:
    try:
        table = render(load_all(Path(args.vendors)))
    except SpecError as error:
        print(f"engine coverage: a spec does not load: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"engine coverage: cannot read {args.vendors}: {error.strerror}", file=sys.stderr)
        return 2
    target = args.write or args.check
    if target is None:
        sys.stdout.write(table)
        return 0
    path = Path(target)
    try:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as error:
        print(f"engine coverage: cannot read {target}: {error.strerror}", file=sys.stderr)
        return 2
    wanted = splice(current, table)
    if args.check:
        if wanted != current:
            print(f"engine coverage: {target} is out of date; run `engine coverage --write {target}`",
                  file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        path.write_text(wanted, encoding="utf-8")
    return 0
