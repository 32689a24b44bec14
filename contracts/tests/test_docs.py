"""The README says what the code does: its module table, its lake documents and its CLI commands are
read from the README and compared with the package."""

from __future__ import annotations

import re
from pathlib import Path

from housing_contracts.cli import app
from housing_contracts.consumers.records import LatestReceipts, Receipt, Subscription
from housing_contracts.lake.confirmation import Confirmation
from housing_contracts.lake.manifest import Manifest
from housing_contracts.lake.quarantine import Quarantine
from housing_contracts.lake.retirement import Retirement
from housing_contracts.lake.snapshots import Claim

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "housing_contracts"
RECORDS = {
    kind.__name__: kind
    for kind in (Manifest, Claim, Confirmation, Retirement, Quarantine, Subscription, Receipt, LatestReceipts)
}


def _section(heading: str) -> str:
    """The README's text from ``heading`` to the next heading of any level."""
    start = README.index(f"{heading}\n")
    following = re.search(r"^#{2,3} ", README[start + len(heading) :], flags=re.MULTILINE)
    return README[start : start + len(heading) + (following.start() if following else len(README))]


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


def test_module_table_lists_every_module_of_the_package() -> None:
    """The "Modules" table names each module (``part/module``, or a top module) once, and nothing else."""
    documented = {
        row[0].strip("`") for row in _table_rows(_section("## Modules")) if not row[0].startswith("**")
    }
    modules = {
        path.relative_to(PACKAGE).with_suffix("").as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }
    assert documented == modules


def test_documents_table_names_each_record_and_its_format() -> None:
    """Each row of "Documents in the lake" names a record of the package and the format it is tagged with."""
    rows = _table_rows(_section("### Documents in the lake"))
    assert sorted(row[2].strip("`") for row in rows) == sorted(RECORDS)
    for _, _, record, tag in rows:
        expected = RECORDS[record.strip("`")].FORMAT
        assert (tag.strip("`") if tag.startswith("`") else None) == expected, record


def test_cli_section_shows_every_command() -> None:
    """The CLI section's example block shows each ``housing-contract`` command, and no other."""
    shown = set(re.findall(r"^housing-contract (\w+)", _section("## CLI: `housing-contract`"), re.MULTILINE))
    assert shown == {command.name or command.callback.__name__ for command in app.registered_commands}
