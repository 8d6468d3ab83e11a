"""README's "Limits and safety" table lists every bound of schemas/limits.json as it is."""

from __future__ import annotations

from pathlib import Path

from automl.schemas import limit_names, limit_spec

README = Path(__file__).resolve().parents[2] / "README.md"


def _limits_rows() -> dict[str, list[str]]:
    text = README.read_text(encoding="utf-8").split("## Limits and safety", 1)[1]
    rows = {}
    for line in text.split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith("`AUTOML_MAX_"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_limit_is_in_the_readme_table_with_its_default_and_flag():
    rows = _limits_rows()
    for name in limit_names():
        spec = limit_spec(name)
        assert spec["env"] in rows, f"README lacks {spec['env']}"
        _, flag, default, _ = rows[spec["env"]]
        assert default == f"{spec['default']:,}", spec["env"]
        assert flag.strip("`") == spec.get("flag", ""), spec["env"]
    assert len(rows) == len(limit_names())
