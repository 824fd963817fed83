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

__all__ = ["icons_dir", "install_language", "install_translator", "remove_translator", "resources_dir"]

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
    """The .ts compiled once into `cache` (a checkout or a pip install; a frozen build ships the .qm)."""
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
    """Load the translation for the user's language, if we have one, and Qt's own for the same language (the
    words of line-edit menus and standard buttons). A frozen build ships the compiled .qm only."""
    locale = locale or QLocale.system()
    folder = resources_dir() / "translations"
    shipped = folder / f"im_desktop_{locale.name()}.qm"
    ts_file = folder / f"im_desktop_{locale.name()}.ts"
    qm = shipped if shipped.exists() else _compiled(ts_file, cache) if ts_file.exists() else None
    translator = QTranslator(app)
    if qm is None or not translator.load(str(qm)):
        return None
    app.installTranslator(translator)
    qt_own = QTranslator(translator)  # a child of ours, so remove_translator() finds it
    if qt_own.load(locale, "qtbase", "_", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_own)
    return translator


def install_language(app: QApplication, cache: Path, language: str) -> QTranslator | None:
    """The settings' language ("system", "en", "zh_CN"): its translation, and its locale as the default for dates
    and numbers. "system" is the desktop's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG on Linux)."""
    if language == "system":
        return install_translator(app, cache)
    locale = QLocale(language)
    QLocale.setDefault(locale)
    return None if language == "en" else install_translator(app, cache, locale)


def remove_translator(app: QApplication, translator: QTranslator) -> None:
    """Undo install_translator: ours and Qt's own that came with it."""
    for child in translator.findChildren(QTranslator):
        app.removeTranslator(child)
    app.removeTranslator(translator)
