"""The Linux artefacts, built once per test run by the real build script (packaging/build.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1200  # a fresh build venv downloads the runtime dependencies; then about a minute on 2 cores


@dataclasses.dataclass(frozen=True)
class Built:
    bundle: Path  # the PyInstaller onedir
    tarball: Path
    deb: Path
    work: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work, out = tmp_path_factory.mktemp("build"), tmp_path_factory.mktemp("dist")
    command = [sys.executable, str(ROOT / "packaging" / "build.py"), "--work", str(work), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    [tarball] = out.glob("im-desktop-*-linux-*.tar.xz")
    [deb] = out.glob("im-desktop_*.deb")
    return Built(work / "dist" / "im-desktop", tarball, deb, work)
