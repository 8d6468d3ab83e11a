"""Every section of the Azure compatibility reference that the project cites exists.

Code comments, docstrings, schema descriptions and the README cite sections of
docs/azure-compatibility.md as "§N" or "§N.M" (older text also says "reference section N").
Each cited number must be the number of a Markdown heading of that file, so a reader can
always follow a citation.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "azure-compatibility.md"
CITING_DIRS = ("cli", "engine", "schemas", "bench", "tests", "docs")
CITING_FILES = ("README.md",)
SUFFIXES = (".py", ".json", ".md", ".sh", ".yml", ".yaml", ".toml", ".txt")
NUMBER = r"(\d+(?:\.\d+)*)"
CITATION = re.compile(rf"§\s*{NUMBER}|\breference (?:section )?{NUMBER}")
HEADING = re.compile(rf"^#{{1,6}}\s+{NUMBER}\.?\s", re.MULTILINE)


def citing_files() -> list[Path]:
    """Source and documentation files that may cite the reference."""
    files = [ROOT / name for name in CITING_FILES if (ROOT / name).is_file()]
    for folder in CITING_DIRS:
        files += sorted(
            path
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts
        )
    return files


def citations(text: str) -> list[tuple[int, str]]:
    """(line number, section number) of every citation in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in CITATION.finditer(line):
            found.append((number, match.group(1) or match.group(2)))
    return found


def heading_numbers(text: str) -> list[str]:
    """Section numbers of the numbered headings (`## 3. ...`, `### 3.10 ...`), in order."""
    return HEADING.findall(text)


def test_citation_pattern_reads_the_forms_in_use():
    text = "see reference §3.10 and §9.\n§ 7.3, reference section 13, reference 5.3"
    assert [n for _, n in citations(text)] == ["3.10", "9", "7.3", "13", "5.3"]


def test_reference_headings_are_unique_and_nested():
    numbers = heading_numbers(REFERENCE.read_text(encoding="utf-8"))
    assert len(numbers) == len(set(numbers)), "a section number is used by two headings"
    for number in numbers:
        parent = number.rpartition(".")[0]
        assert not parent or parent in numbers, f"§{number} has no §{parent} heading above it"


def test_every_cited_section_is_a_heading():
    sections = set(heading_numbers(REFERENCE.read_text(encoding="utf-8")))
    missing = [
        f"{path.relative_to(ROOT)}:{line}: §{number}"
        for path in citing_files()
        for line, number in citations(path.read_text(encoding="utf-8", errors="replace"))
        if number not in sections
    ]
    assert not missing, (
        "citations with no heading in docs/azure-compatibility.md (add the section there, "
        "or fix the number):\n" + "\n".join(missing)
    )
