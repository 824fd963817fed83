"""Satori message content as formatted text, built with QTextCursor from the parsed tree (never from HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)

from im_desktop.protocol.elements import Element, Node, Text, parse, plain_text, to_plain_text
from im_desktop.protocol.mentions import EVERYONE, MAX_MARKUP
from im_desktop.ui.plain import shown

__all__ = ["MAX_NODES", "MESSAGE_CHARS", "OPENABLE", "Style", "message_text", "openable_url", "render"]

MESSAGE_CHARS = 4000  # longer messages are cut on screen (the cache keeps them whole)
MAX_NODES = 4000  # elements and texts drawn per message; past that the rest is "…"
OPENABLE = ("http", "https", "mailto")  # the only links that may be opened (after the person confirms)
_MAX_ADDRESS = 4096  # the parser drops longer attribute values anyway
_QUOTE_INDENT = 12.0


def message_text(content: object) -> str:
    """A message's Satori content as the plain text a person reads, bounded (what a screen reader gets)."""
    text = to_plain_text(content[:MAX_MARKUP]) if isinstance(content, str) else ""
    return shown(text, MESSAGE_CHARS, multiline=True)


def openable_url(href: object) -> QUrl | None:
    """The address as a URL if it may be opened: http(s) with a host, or mailto; None for anything else
    (javascript:, file:, data:, a relative path, an address with spaces or control characters)."""
    if not isinstance(href, str) or not href or len(href) > _MAX_ADDRESS:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in href):
        return None
    url = QUrl(href, QUrl.ParsingMode.StrictMode)
    scheme = url.scheme().lower()
    if not url.isValid() or scheme not in OPENABLE:
        return None
    if scheme != "mailto" and not url.host():
        return None
    return url


@dataclass(frozen=True)
class Style:
    """Colours and fonts for formatted text, from the view's palette (so dark themes read too)."""

    link: QColor
    mention: QColor  # background of a mention
    own_mention: QColor  # background of a mention of the reader (or of everyone)
    code_background: QColor
    quote: QColor  # text colour of a quote

    @classmethod
    def from_palette(cls, palette: QPalette) -> Style:
        highlight = palette.color(QPalette.ColorRole.Highlight)
        mention, own = QColor(highlight), QColor(highlight)
        mention.setAlpha(40)
        own.setAlpha(110)
        code = QColor(palette.color(QPalette.ColorRole.Text))
        code.setAlpha(28)
        return cls(palette.color(QPalette.ColorRole.Link), mention, own, code,
                   palette.color(QPalette.ColorRole.PlaceholderText))  # fmt: skip


def _tr(text: str) -> str:
    return QCoreApplication.translate("RichText", text)


def _media_label(name: str) -> str:
    labels = {"img": _tr("image"), "image": _tr("image"), "audio": _tr("audio"), "video": _tr("video"),
              "file": _tr("file")}  # fmt: skip
    return labels[name]


_MEDIA = ("img", "image", "audio", "video", "file")
_BLOCKS = ("p", "message")


class _Writer:
    """Walks the tree once, inserting text with the formats its elements stand for. Bounded: at most
    MESSAGE_CHARS characters and MAX_NODES nodes are drawn, whatever the input."""

    def __init__(self, document: QTextDocument, style: Style, own_user: str, limit: int) -> None:
        self.cursor = QTextCursor(document)
        self.style, self.own_user = style, own_user
        self.chars, self.nodes = limit, MAX_NODES
        self.blocks = [QTextBlockFormat()]
        self.broken = False  # a block element ended: the next text starts a new paragraph

    @property
    def full(self) -> bool:
        return self.chars <= 0 or self.nodes <= 0

    def text(self, text: str, fmt: QTextCharFormat) -> None:
        if not text or self.chars <= 0:
            return
        visible = shown(text, self.chars, multiline=True)  # control characters as pictures, cut with "…"
        self.chars = 0 if len(text) > self.chars else self.chars - len(text)
        block_fmt = self.blocks[-1]
        if self.broken and self.cursor.block().length() > 1:
            self.cursor.insertBlock(block_fmt, fmt)
        elif self.cursor.blockFormat() != block_fmt and self.cursor.block().length() <= 1:
            self.cursor.setBlockFormat(block_fmt)
        self.broken = False
        self.cursor.insertText(visible, fmt)

    def newline(self) -> None:
        self.cursor.insertBlock(self.blocks[-1])
        self.broken = False

    def end(self) -> None:
        if self.nodes <= 0 and self.chars > 0:
            self.cursor.insertText("\u2026")

    def nodes_of(self, nodes: tuple[Node, ...] | list[Node], fmt: QTextCharFormat) -> None:
        for node in nodes:
            if self.full:
                return
            self.node(node, fmt)

    def node(self, node: Node, fmt: QTextCharFormat) -> None:
        self.nodes -= 1
        if isinstance(node, Text):
            self.text(node.text, fmt)
            return
        name = node.name
        if name == "br":
            self.newline()
        elif name in _BLOCKS:
            self.broken = True
            self.nodes_of(node.children, fmt)
            self.broken = True
        elif name == "quote":
            self.quote(node, fmt)
        elif name == "a":
            self.link(node, fmt)
        elif name in ("at", "sharp"):
            self.mention(node, fmt)
        elif name in _MEDIA:
            self.media(node, fmt)
        elif name == "emoji":
            emoji = node.attr("name")
            self.text(f":{emoji}:" if emoji else _plain(node) or "[emoji]", fmt)
        elif name == "author":
            author = node.attr("name") or node.attr("id")
            self.text(f"{author}: " if author else "", _bold(fmt))
        elif name == "button":
            label = _plain(node)
            self.text(f"[{label}]" if label else "", fmt)
        else:  # formatting, and unknown elements (script, style, h1, …): their text, formatted or not
            self.nodes_of(node.children, _formatted(name, fmt, self.style))

    def quote(self, node: Element, fmt: QTextCharFormat) -> None:
        block = QTextBlockFormat(self.blocks[-1])
        block.setLeftMargin(block.leftMargin() + _QUOTE_INDENT)
        inner = QTextCharFormat(fmt)
        inner.setForeground(self.style.quote)
        self.broken = True
        self.blocks.append(block)
        self.nodes_of(node.children, inner)
        self.blocks.pop()
        self.broken = True

    def link(self, node: Element, fmt: QTextCharFormat) -> None:
        href = node.attr("href")
        label = _plain(node) or href
        if openable_url(href) is None:  # not a link we would open: only its text
            self.text(label, fmt)
            return
        self.text(label, _anchor(fmt, href, self.style))

    def mention(self, node: Element, fmt: QTextCharFormat) -> None:
        if node.name == "sharp":
            label = "#" + (node.attr("name") or _plain(node) or node.attr("id"))
            own = False
        else:
            kind = node.attr("type")
            who = kind if kind in EVERYONE else node.attr("name") or _plain(node) or node.attr("id")
            label = "@" + (who or node.attr("role"))
            own = kind in EVERYONE or (bool(self.own_user) and node.attr("id") == self.own_user)
        mention = _bold(fmt)
        mention.setBackground(self.style.own_mention if own else self.style.mention)
        self.text(label, mention)

    def media(self, node: Element, fmt: QTextCharFormat) -> None:
        """A labelled link to the file, never fetched here: opening it is the person's choice."""
        title = node.attr("title") or node.attr("name")
        label = f"[{_media_label(node.name)}: {title}]" if title else f"[{_media_label(node.name)}]"
        src = node.attr("src") or node.attr("url")
        self.text(label, _anchor(fmt, src, self.style) if openable_url(src) is not None else fmt)
        self.nodes_of(node.children, fmt)


def _plain(node: Element) -> str:
    return plain_text(node.children)  # one definition of "what a person reads": protocol.elements


def _bold(fmt: QTextCharFormat) -> QTextCharFormat:
    out = QTextCharFormat(fmt)
    out.setFontWeight(QFont.Weight.Bold)
    return out


def _anchor(fmt: QTextCharFormat, href: str, style: Style) -> QTextCharFormat:
    out = QTextCharFormat(fmt)
    out.setAnchor(True)
    out.setAnchorHref(href)  # kept as data: the view reports it; nothing here follows it
    out.setForeground(style.link)
    out.setFontUnderline(True)
    return out


def _formatted(name: str, fmt: QTextCharFormat, style: Style) -> QTextCharFormat:
    out = QTextCharFormat(fmt)
    if name in ("b", "strong"):
        out.setFontWeight(QFont.Weight.Bold)
    elif name in ("i", "em"):
        out.setFontItalic(True)
    elif name in ("u", "ins"):
        out.setFontUnderline(True)
    elif name in ("s", "del"):
        out.setFontStrikeOut(True)
    elif name == "code":
        out.setFontFamilies(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).families())
        out.setFontFixedPitch(True)
        out.setBackground(style.code_background)
    elif name == "sup":
        out.setVerticalAlignment(QTextCharFormat.VerticalAlignment.AlignSuperScript)
    elif name == "sub":
        out.setVerticalAlignment(QTextCharFormat.VerticalAlignment.AlignSubScript)
    return out


def render(document: QTextDocument, content: str, style: Style, *, own_user: str = "", markup: bool = True,
           limit: int = MESSAGE_CHARS) -> None:  # fmt: skip
    """Fill an empty document with the content: Satori markup (`markup`) or text as typed (an outbox entry).
    Links keep their address in the format's anchor href; no resource is ever loaded."""
    writer = _Writer(document, style, own_user, limit)
    if markup:
        writer.nodes_of(parse(content[:MAX_MARKUP]), QTextCharFormat())
    else:
        writer.text(content, QTextCharFormat())
    writer.end()
