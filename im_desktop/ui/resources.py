"""Finds icons and translations in a checkout, an installed copy or a frozen bundle; loads translations."""

from __future__ import annotations

import logging
import site
import subprocess
import sys
from pathlib import Path

import PySide6
from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator
from PySide6.QtWidgets import QApplication

__all__ = ["icons_dir", "install_translator", "resources_dir"]

log = logging.getLogger(__name__)


def _candidates() -> list[Path]:
    bundle = getattr(sys, "_MEIPASS", None)
    found = [Path(bundle) / "resources"] if bundle else []
    found.append(Path(__file__).resolve().parents[2] / "resources")  # a source checkout or editable install
    # `pip install .` puts them under <prefix>/share/im-desktop (pyproject's data-files).
    found += [Path(p) / "share" / "im-desktop" for p in (sys.prefix, site.getuserbase())]
    return found


def resources_dir() -> Path:
    for candidate in _candidates():
        if (candidate / "icons" / "im-desktop.svg").exists():
            return candidate
    raise FileNotFoundError("im-desktop's resources (icons, translations) are not installed")


def icons_dir() -> Path:
    return resources_dir() / "icons"


def _compiled(ts_file: Path, cache: Path) -> Path | None:
    """The .qm next to the .ts (a frozen build ships it), else compile it once into `cache`."""
    shipped = ts_file.with_suffix(".qm")
    if shipped.exists():
        return shipped
    target = cache / ts_file.with_suffix(".qm").name
    if target.exists() and target.stat().st_mtime >= ts_file.stat().st_mtime:
        return target
    exe = "lrelease.exe" if sys.platform == "win32" else "lrelease"
    places = [Path(PySide6.__file__).parent, Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.BinariesPath))]
    lrelease = next((p / exe for p in places if (p / exe).exists()), Path(exe))
    cache.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([str(lrelease), str(ts_file), "-qm", str(target)], check=True,  # noqa: S603
                       capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not compile %s (%s); the app stays in English", ts_file.name, type(exc).__name__)
        return None
    return target


def install_translator(app: QApplication, cache: Path, locale: QLocale | None = None) -> QTranslator | None:
    """Load the translation for the user's language, if we have one."""
    locale = locale or QLocale.system()
    ts_file = resources_dir() / "translations" / f"im_desktop_{locale.name()}.ts"
    if not ts_file.exists():
        return None
    qm = _compiled(ts_file, cache)
    translator = QTranslator(app)
    if qm is None or not translator.load(str(qm)):
        return None
    app.installTranslator(translator)
    return translator
