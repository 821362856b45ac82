"""The README's coverage matrix is generated from the specs; regenerating it changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.coverage import END, START, load_all, render, splice

ROOT = Path(__file__).resolve().parents[1]


def test_readme_matrix_is_up_to_date() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    expected = splice(readme, render(load_all(ROOT / "vendors")))
    assert readme == expected, "run `engine coverage --write README.md`"


def test_matrix_reflects_the_specs() -> None:
    table = render(load_all(ROOT / "vendors"))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "HMAC-SHA256 base64 + timestamp" in rows["whoop"]
    glucose = rows["`glucose`"].split(" | ")
    header = rows["sample type"].split(" | ")
    assert glucose[header.index("dexcom")].strip() == "✓"


def test_matrix_names_each_vendors_time_zone_source() -> None:
    """Polar reads the zone off exercises, else the app's; Fitbit off its profile; Garmin's records
    carry their offset; no valid spec leaves a local time without one."""
    table = render(load_all(ROOT / "vendors"))
    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ") for line in table.splitlines()
            if line.startswith("| ")}
    column = rows["vendor"].index("time zone source")
    assert rows["polar"][column] == ("record offset; connection: exercise `start_time_utc_offset` (min) "
                                     "→ app at connect")
    assert rows["fitbit"][column] == ("connection: profile `user.timezone` (IANA) → profile "
                                      "`user.offsetFromUTCMillis` (ms) → app at connect")
    assert rows["garmin"][column] == "record offset"
    second = table.split("| vendor |", 1)[1].splitlines()[2:]
    cells = [line.rstrip(" |").split(" | ")[column] for line in second if line.startswith("| ")]
    assert len(cells) >= 10 and all(c not in ("", "unknown") for c in cells)  # validate sees to it


def test_write_appends_markers_then_replaces_only_the_block(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    target = tmp_path / "README.md"
    target.write_text("# Title\n\nText before.\n")
    assert main(["coverage", "--check", str(target)]) == 1
    assert main(["coverage", "--write", str(target)]) == 0
    first = target.read_text()
    assert first.startswith("# Title\n\nText before.\n") and first.rstrip().endswith(END)
    target.write_text(first.replace("Text before.", "Edited text.") + "\nAfter.\n")
    assert main(["coverage", "--write", str(target)]) == 0
    second = target.read_text()
    assert "Edited text." in second and second.endswith("\nAfter.\n")
    assert second.count(START) == 1
    assert main(["coverage", "--check", str(target)]) == 0


@pytest.mark.parametrize("args", [["--vendors", "/nonexistent-folder"]])
def test_unreadable_vendor_folder_is_a_usage_error(args, capsys) -> None:
    assert main(["coverage", *args]) == 2
