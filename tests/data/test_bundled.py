import hashlib
import subprocess
import sys

import pytest

from .conftest import BUNDLED, REPO_ROOT, shared

NAMES = ("flowers5", "chess_multilabel", "raccoon", "coco_seg")


def test_bundled_data_is_small_and_documented():
    files = [p for p in BUNDLED.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 6 * 1024 * 1024
    for name in NAMES:
        folder = BUNDLED / name
        assert (folder / "SOURCE.md").is_file()
        assert any(p.name.startswith(("LICENSE", "LICENCE")) for p in folder.iterdir())
        assert "downscaled" in (folder / "SOURCE.md").read_text()
        for split in ("train", "valid"):
            assert (folder / split / "MLTable").is_file()


@pytest.mark.slow
def test_builder_reproduces_the_bundled_files(tmp_path):
    shared()  # skip without ../shared/datasets
    script = REPO_ROOT / "examples" / "data" / "build_bundled_data.py"
    subprocess.run([sys.executable, script, "--out", tmp_path], check=True, capture_output=True)
    for name in NAMES:
        built = {
            p.relative_to(tmp_path): _digest(p) for p in (tmp_path / name).rglob("*") if p.is_file()
        }
        bundled = {
            p.relative_to(BUNDLED): _digest(p) for p in (BUNDLED / name).rglob("*") if p.is_file()
        }
        assert built == bundled, name


def _digest(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()
