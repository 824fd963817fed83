"""The desktop of every end-to-end test: a fresh virtual X display with a tray host, a private D-Bus with a keyring
and the accessibility bus; missing Debian packages fail the test in CI and skip it elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.desktop import Desktop, missing_packages, require_packages, run_desktop


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[Desktop]:
    require_packages(missing_packages())
    with run_desktop(tmp_path) as running:
        yield running
