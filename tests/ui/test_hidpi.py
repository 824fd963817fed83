"""HiDPI: on a 1280x800 screen at 100, 150 and 200 % (Qt's scale factor, as a desktop sets it), in English and in
Chinese, every window and dialog of the app lies inside the screen's free area."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREEN = (1280, 800)


def _windows(tmp_path: Path, scale: float, language: str) -> dict[str, dict[str, Any]]:
    """Where each window landed, from a process of its own (the scale is fixed when Qt starts)."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": SCREEN[0],
                                               "height": SCREEN[1], "logicalDpi": 96, "logicalBaseDpi": 96,
                                               "dpr": 1}]}))  # fmt: skip
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": str(scale)}
    done = subprocess.run([sys.executable, "-m", "tests.ui.hidpi_windows", language], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("language", ["en", "zh_CN"])
@pytest.mark.parametrize("scale", [1, 1.5, 2])
def test_every_window_fits_the_screen(tmp_path: Path, scale: float, language: str) -> None:
    windows = _windows(tmp_path, scale, language)
    assert set(windows) == {"login window", "main window", "settings dialog", "server dialog", "kicked dialog",
                            "ticket dialog"}  # fmt: skip
    for name, seen in windows.items():
        x, y, width, height = seen["frame"]
        ax, ay, area_width, area_height = seen["area"]
        # The scale is in force: the same 1280x800 pixels are fewer logical ones.
        assert seen["ratio"] == scale
        assert (area_width, area_height) == (int(SCREEN[0] / scale), int(SCREEN[1] / scale))
        assert ax <= x and ay <= y and x + width <= ax + area_width and y + height <= ay + area_height, (
            f"{name} at {scale * 100:.0f} %: {width}x{height}+{x}+{y} is not inside {area_width}x{area_height}"
        )
