"""Chinese renders as characters, not boxes: an installed font (CI installs WenQuanYi Micro Hei) has a glyph for
every character of the Simplified Chinese translation, and Qt picks such a font for Chinese text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase, QRawFont
from PySide6.QtWidgets import QApplication

from tests.e2e.desktop import require_packages

TS = Path(__file__).resolve().parents[2] / "resources" / "translations" / "im_desktop_zh_CN.ts"


def _chinese_characters() -> set[str]:
    root = ET.parse(TS).getroot()  # noqa: S314 - our own file
    text = "".join(t.text or "" for t in root.iter("translation"))
    return {ch for ch in text if ord(ch) >= 0x2E80}  # CJK radicals, punctuation, ideographs, full-width forms


def _cjk_families() -> list[str]:
    chinese = QFontDatabase.WritingSystem.SimplifiedChinese
    return [family for family in QFontDatabase.families(chinese) if not QFontDatabase.isPrivateFamily(family)]


def test_an_installed_font_has_every_character_of_the_translation(qapp: QApplication) -> None:
    families = _cjk_families()
    if not families:
        require_packages(["fonts-wqy-microhei"], "Chinese text (and the zh_CN screenshots)")
    wanted = _chinese_characters()
    assert len(wanted) > 100  # the translation is there and was read
    best, missing = "", wanted
    for family in families:
        raw = QRawFont.fromFont(QFont(family), QFontDatabase.WritingSystem.SimplifiedChinese)
        lacking = {ch for ch in wanted if not raw.supportsCharacter(ord(ch))}
        if len(lacking) < len(missing):
            best, missing = family, lacking
    assert not missing, f"{best or 'no font'} lacks {''.join(sorted(missing))[:40]}"


def test_qt_picks_a_chinese_font_for_chinese_text(qapp: QApplication) -> None:
    """The app's own font, asked for Chinese, falls back to one that has the characters (fontconfig's choice)."""
    if not _cjk_families():
        require_packages(["fonts-wqy-microhei"], "Chinese text (and the zh_CN screenshots)")
    raw = QRawFont.fromFont(qapp.font(), QFontDatabase.WritingSystem.SimplifiedChinese)
    assert raw.isValid() and raw.familyName() in _cjk_families()
    assert all(raw.supportsCharacter(ord(ch)) for ch in "登录在线离线设置"), raw.familyName()
