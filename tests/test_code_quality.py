"""The code rules are part of the test suite: ruff, mypy --strict and the import-layer contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_is_clean() -> None:
    done = _run(sys.executable, "-m", "ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(600)
def test_mypy_strict_is_clean() -> None:
    done = _run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports")
    assert lint_imports is not None, "import-linter is not installed"
    done = _run(lint_imports)
    assert done.returncode == 0, done.stdout + done.stderr


def test_modules_stay_small_and_say_what_they_are() -> None:
    for path in sorted((ROOT / "im_desktop").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 420, f"{path} has grown past about 400 lines; split it"
        first = text.lstrip().splitlines()[0] if text.strip() else '""""""'
        assert first.startswith('"""') and first.endswith('"""') and len(first) > 6, f"{path}: one-line docstring"
