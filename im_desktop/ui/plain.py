"""Untrusted text on screen: always plain, bounded, control characters made visible, bidi overrides fenced in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel, QWidget

__all__ = ["LONG", "SHORT", "isolate", "plain_label", "plain_tooltip", "shown"]

# Limits for what one string may take on screen: a device or user name, a sentence from a server.
SHORT = 80
LONG = 600
_ELLIPSIS = "\u2026"
# Bidi controls that can reorder the text around them ("Trojan Source"); fenced in by isolate().
_FSI, _PDI = "\u2068", "\u2069"


def _visible(ch: str, multiline: bool) -> str:
    code = ord(ch)
    if multiline and ch in "\n\t":
        return ch
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400.. "control pictures": a NUL shows as ␀, not as nothing
    if code == 0x7F:
        return "\u2421"
    if 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
        return "\ufffd"  # C1 controls and lone surrogates have no picture
    return ch


def shown(text: object, limit: int = LONG, *, multiline: bool = False) -> str:
    """What may be put on screen for a string from outside: at most `limit` characters (cut with "…"),
    control characters as their visible pictures. Anything that is not a string shows as nothing."""
    if not isinstance(text, str):
        return ""
    cut = text[: limit + 1]
    clean = "".join(_visible(ch, multiline) for ch in cut)
    if len(clean) > limit:
        clean = clean[: limit - 1] + _ELLIPSIS
    return clean


def isolate(text: str) -> str:
    """Wrap a fragment from outside in a bidi isolate, so an RTL override in it cannot reorder our sentence."""
    return f"{_FSI}{text}{_PDI}" if text else ""


def plain_tooltip(text: str) -> str:
    """A tooltip that Qt shows literally: tooltips guess rich text from the first tag, so the text is escaped
    and handed over as the rich text it then is."""
    return GuiQt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal) if text else ""


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that never interprets its text as HTML (Qt's default is to guess)."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label
