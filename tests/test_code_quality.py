"""The code rules are part of the test suite: ruff, mypy --strict and the import-layer contracts."""

from __future__ import annotations

import re
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


def _readme_tree() -> dict[str, str]:
    """The README's tree of im_desktop/, as the text under each top-level package (and "" for loose modules)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("\nim_desktop/\n") :]
    block = block[: block.index("```")]
    sections: dict[str, str] = {"": ""}
    current = ""
    for line in block.splitlines()[2:]:
        top = re.match(r"^ (\w+)/ ", line)
        if top:
            current = top.group(1)
        elif re.match(r"^ \w+\.py ", line):
            current = ""
        sections[current] = sections.get(current, "") + line + "\n"
    return sections


def test_the_readme_tree_names_every_module_in_its_package() -> None:
    # Every module of the package (what `git ls-files im_desktop` lists on a clean clone).
    modules = [p.relative_to(ROOT) for p in sorted((ROOT / "im_desktop").rglob("*.py")) if p.name != "__init__.py"]
    assert len(modules) > 100, "found the package"
    tree = _readme_tree()
    missing = []
    for module in modules:
        package = module.parts[1] if len(module.parts) > 2 else ""
        if not re.search(rf"(?<![\w/]){re.escape(module.name)}\b", tree.get(package, "")):
            missing.append(str(module))
    assert not missing, f"README's architecture tree does not name: {missing}"
    packages = {m.parts[1] for m in modules if len(m.parts) > 2}
    assert packages == set(tree) - {""}, "a package in the tree that is not in the code, or the other way round"
