"""Satori content as formatted text: every element the issue names, links and media that are never followed or
fetched, mentions, unknown and hostile markup as text in bounded time."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from im_desktop.ui.rich_text import MESSAGE_CHARS, Style, message_text, openable_url, render

Fragment = tuple[str, QTextCharFormat]


def _style() -> Style:
    palette = QPalette()
    return Style.from_palette(palette)


def rendered(content: str, *, own_user: str = "alice", markup: bool = True) -> QTextDocument:
    document = QTextDocument()
    render(document, content, _style(), own_user=own_user, markup=markup)
    return document


def fragments(document: QTextDocument) -> list[Fragment]:
    out: list[Fragment] = []
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            out.append((it.fragment().text(), it.fragment().charFormat()))
            it += 1
        block = block.next()
    return out


def fmt_of(document: QTextDocument, text: str) -> QTextCharFormat:
    found = [fmt for piece, fmt in fragments(document) if text in piece]
    assert found, f"{text!r} not among {[piece for piece, _ in fragments(document)]}"
    return found[0]


def test_entities_are_decoded_and_formatting_elements_format(qtbot: QtBot) -> None:
    document = rendered(
        "Tom &amp; <b>bee</b><strong>STRONG</strong> <i>eye</i><em>EMPH</em> <u>under</u><ins>INSERT</ins> "
        "<s>strike</s><del>DELETE</del> <code>x = 1</code> &lt;3 &#x1F600;"
    )
    assert document.toPlainText() == "Tom & beeSTRONG eyeEMPH underINSERT strikeDELETE x = 1 <3 \U0001f600"
    for text in ("bee", "STRONG"):
        assert fmt_of(document, text).fontWeight() == QFont.Weight.Bold
    for text in ("eye", "EMPH"):
        assert fmt_of(document, text).fontItalic()
    for text in ("under", "INSERT"):
        assert fmt_of(document, text).fontUnderline()
    for text in ("strike", "DELETE"):
        assert fmt_of(document, text).fontStrikeOut()
    code = fmt_of(document, "x = 1")
    assert code.fontFixedPitch() and code.background().style() != Qt.BrushStyle.NoBrush
    assert fmt_of(document, "Tom & ").fontWeight() != QFont.Weight.Bold  # formats end with their element


def test_line_breaks_paragraphs_and_quotes_are_blocks(qtbot: QtBot) -> None:
    document = rendered("first<br/>second<p>para</p>after<quote>quoted<br/>twice</quote>end")
    assert document.toPlainText().split("\n") == ["first", "second", "para", "after", "quoted", "twice", "end"]
    margins = {}
    block = document.begin()
    while block.isValid():
        margins[block.text()] = block.blockFormat().leftMargin()
        block = block.next()
    assert margins["quoted"] > 0 and margins["twice"] == margins["quoted"]
    assert margins["after"] == 0 and margins["end"] == 0  # the quote's indentation ends with it
    assert fmt_of(document, "quoted").foreground().color() == _style().quote


def test_a_link_keeps_its_address_as_data_and_unsafe_schemes_are_only_text(qtbot: QtBot) -> None:
    document = rendered(
        '<a href="https://example.org/a?b=1&amp;c=2">the docs</a> '
        '<a href="javascript:alert(1)">click</a> <a href="file:///etc/passwd">file</a> '
        '<a href="mailto:bob@example.org"/>'
    )
    assert document.toPlainText() == "the docs click file mailto:bob@example.org"
    link = fmt_of(document, "the docs")
    assert link.isAnchor() and link.anchorHref() == "https://example.org/a?b=1&c=2" and link.fontUnderline()
    assert fmt_of(document, "mailto:bob@example.org").anchorHref() == "mailto:bob@example.org"
    for text in (" click ", "file"):
        assert not any(fmt.isAnchor() for piece, fmt in fragments(document) if text.strip() in piece)


@pytest.mark.parametrize(
    ("href", "ok"),
    [
        ("https://example.org/x", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("mailto:bob@example.org", True),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("data:text/html,<b>x</b>", False),
        ("https://", False),
        ("https://exa mple.org", False),
        ("https://example.org/\u0000", False),
        ("/relative/path", False),
        ("", False),
        ("https://example.org/" + "a" * 5000, False),
    ],
)
def test_only_web_and_mail_addresses_may_be_opened(href: str, ok: bool) -> None:
    assert (openable_url(href) is not None) is ok


def test_mentions_are_highlighted_and_a_mention_of_the_reader_more(qtbot: QtBot) -> None:
    document = rendered(
        '<at id="bob" name="Bob"/> <at id="alice">Alice</at> <at type="all"/> <sharp id="g" name="dev"/>'
    )
    assert document.toPlainText() == "@Bob @Alice @all #dev"
    style = _style()
    bob, me, everyone = fmt_of(document, "@Bob"), fmt_of(document, "@Alice"), fmt_of(document, "@all")
    assert bob.fontWeight() == QFont.Weight.Bold and bob.background().color() == style.mention
    assert me.background().color() == style.own_mention and everyone.background().color() == style.own_mention
    assert style.mention != style.own_mention
    assert fmt_of(document, "#dev").fontWeight() == QFont.Weight.Bold


def test_media_is_a_labelled_link_never_an_image(qtbot: QtBot) -> None:
    document = rendered(
        '<img src="https://example.org/cat.png" title="cat"/> <audio src="data:audio/ogg;base64,AAAA"/> '
        '<video src="https://example.org/v.mp4"/> <file src="file:///etc/shadow" title="secrets"/>'
    )
    assert document.toPlainText() == "[image: cat] [audio] [video] [file: secrets]"
    assert fmt_of(document, "[image: cat]").anchorHref() == "https://example.org/cat.png"
    assert fmt_of(document, "[video]").anchorHref() == "https://example.org/v.mp4"
    assert not fmt_of(document, "[audio]").isAnchor() and not fmt_of(document, "[file: secrets]").isAnchor()
    assert not any(fmt.isImageFormat() for _, fmt in fragments(document))


def test_unknown_elements_show_their_text(qtbot: QtBot) -> None:
    document = rendered("<script>alert(1)</script><h1 style='color:red'>ALERT</h1><custom x='1'>text</custom>")
    assert document.toPlainText() == "alert(1)ALERTtext"
    assert all(
        fmt.foreground().style() == Qt.BrushStyle.NoBrush for _, fmt in fragments(document)
    )  # no colour from markup


def test_what_was_typed_is_shown_as_typed(qtbot: QtBot) -> None:
    document = rendered("<b>not bold</b> &amp;\nline", markup=False)
    assert document.toPlainText() == "<b>not bold</b> &amp;\nline"
    assert all(fmt.fontWeight() != QFont.Weight.Bold for _, fmt in fragments(document))


def test_control_characters_show_as_pictures(qtbot: QtBot) -> None:
    # (NUL is U+FFFD already in the parser: it cannot be stored or encoded.)
    assert rendered("a\u0000b\u0007c&#7;").toPlainText() == "a\ufffdb\u2407c\u2407"
    assert rendered("a\u0000b", markup=False).toPlainText() == "a\u2400b"


@pytest.mark.parametrize(
    "content",
    [
        "<b>" * 200_000 + "deep",
        '<a href="' + "h" * 5_000_000 + '">huge attribute</a>',
        "<i>a</i>" * 200_000,
        "<p>" * 100_000,
        "x" * 2_000_000,
        "<quote>" * 50_000 + "q",
        "&amp;" * 1_000_000,
    ],
)
def test_hostile_markup_renders_as_bounded_text_in_bounded_time(qtbot: QtBot, content: str) -> None:
    started = time.monotonic()
    document = rendered(content)
    plain = message_text(content)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"{elapsed:.2f} s"
    assert len(document.toPlainText()) <= MESSAGE_CHARS + 200
    assert len(plain) <= MESSAGE_CHARS
    assert document.blockCount() <= MESSAGE_CHARS


def test_the_application_palette_gives_the_colours() -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style = Style.from_palette(app.palette())
    assert style.link == app.palette().color(QPalette.ColorRole.Link)
