"""The commented examples in `engine new`'s spec validate once a vendor author uncomments them:
a retired vendor, a time-zone source with a local time, a time the vendor defines as UTC, and a
record identity from chosen fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.troubleshoot.scaffold import SPEC_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
START = "        start: start_time\n"


def uncomment(text: str, first: str, lines: int) -> str:
    """Remove `# ` from `lines` lines starting at the one that reads `first` once commented."""
    out = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(out) if line.lstrip().startswith("# " + first))
    for i in range(index, index + lines):
        indent = len(out[i]) - len(out[i].lstrip())
        assert out[i][indent:].startswith("# "), out[i]
        out[i] = out[i][:indent] + out[i][indent + 2:]
    return "".join(out)


def local_start(text: str) -> str:
    assert text.count(START) == 1
    return uncomment(text, "time_zone:", 3).replace(START, "        start: {path: start_time, local: true}\n")


EXAMPLES = {
    "retired": lambda text: uncomment(text, "status: retired", 2),
    "local time with a zone source": local_start,
    "utc time": lambda text: text.replace(START, "        start: {path: start_time, utc: true}\n"),
    "identity": lambda text: uncomment(text, "record_id: null", 2),
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_commented_example_validates_uncommented(example, tmp_path, monkeypatch, capsys):
    for name in ("ZENRING_CLIENT_ID", "ZENRING_CLIENT_SECRET", "ZENRING_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "x")
    written = SPEC_TEMPLATE.format(id="zenring", name="Zenring", env="ZENRING",
                                   schema=(ROOT / "schemas" / "vendor-spec.schema.json").as_posix(),
                                   spec_path="zenring.yaml")
    text = EXAMPLES[example](written)
    assert text != written
    path = tmp_path / "zenring.yaml"
    path.write_text(text)
    assert main(["validate", "--check-env", str(path)]) == 0, capsys.readouterr().err


def test_a_local_time_without_its_zone_source_is_refused(tmp_path, monkeypatch, capsys):
    """The template's `tz_offset` default is a zone source too; without both, validate refuses."""
    written = SPEC_TEMPLATE.format(id="zenring", name="Zenring", env="ZENRING", schema="s.json",
                                   spec_path="zenring.yaml")
    text = local_start(written).replace("    tz_offset: timezone_offset\n", "")
    text = text.replace("time_zone:\n  - {from: identity, path: time_zone, format: iana}\n  - {from: app}\n", "")
    path = tmp_path / "zenring.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 1
    assert "[time.no_zone]" in capsys.readouterr().out
