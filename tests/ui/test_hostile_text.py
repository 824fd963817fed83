"""Hostile text from a server or another user, through every view that shows such text: shown literally, never
interpreted as HTML (nothing loaded, no fake alerts), bounded, and unable to reorder the sentence around it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from im_desktop.local.cache import CachedMessage, Conversation, OutboxItem
from im_desktop.ui.dialogs import KickedDialog
from im_desktop.ui.login_window import LoginWindow
from im_desktop.ui.main_window import MainWindow
from im_desktop.ui.status_bar import ConnectionStatusBar

LONG = "A" * 100_000


# The writer runs in its own process: Qt keeps the GIL while it paints, so a thread of ours could never answer
# the blocking open() and the test would hang instead of fail.
_WRITER = """
import errno, os, sys, time
fifo, marker = sys.argv[1], sys.argv[2]
while True:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        time.sleep(0.005)
        continue
    open(marker, "w").close()
    os.close(fd)
"""


class OpenWatch:
    """A FIFO that notices being opened for reading: Qt's rich text opens an <img> source with a blocking
    open(), which only returns once a writer comes; the writer process is that writer and leaves a marker."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._marker = path.with_suffix(".opened")
        self._writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(self._marker)])

    def opened(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while not self._marker.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self._writer.kill()
        self._writer.wait(5)


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[OpenWatch]:
    w = OpenWatch(tmp_path / "image")
    yield w
    w.close()


def hostile_texts(image: Path) -> dict[str, str]:
    return {
        "img": f"<img src={image}>",
        "fake-alert": "<h1 style='color:red'>SECURITY ALERT</h1><p>Call +1 555 0100 now</p>",
        "rtl-override": "\u202eexe.txt\u202c phone",
        "long": LONG,
        "nul": "evil\x00name",
    }


def expected_shown(text: str, limit: int) -> str:
    """What must be on screen, written out here rather than computed by the code under test."""
    visible = text.replace("\x00", "\u2400")
    return visible if len(visible) <= limit else visible[: limit - 1] + "\u2026"


def rendered(widget: QWidget) -> None:
    widget.resize(800, 600)
    widget.grab()  # paints every child now: this is when rich text would load an image


def labels_with_text(widget: QWidget) -> list[QLabel]:
    return [label for label in widget.findChildren(QLabel) if label.text()]


def shown_in_labels(widget: QWidget) -> str:
    for label in labels_with_text(widget):
        assert label.textFormat() == Qt.TextFormat.PlainText, f"label {label.text()[:60]!r} may be read as HTML"
    return "\n".join(label.text() for label in labels_with_text(widget))


def tooltip_as_shown(tooltip: str) -> str:
    """The text a tooltip shows: Qt guesses rich text the way mightBeRichText() does."""
    document = QTextDocument()
    if GuiQt.mightBeRichText(tooltip):
        document.setHtml(tooltip)
    else:
        document.setPlainText(tooltip)
    return document.toPlainText()


def kick_info(device: str) -> dict[str, object]:
    return {"reason": "multi_device", "code": 6208, "message": device, "at": 1_700_000_000_000,
            "by": {"platform": device, "device_name": device, "device_id": "x"}}  # fmt: skip


Check = Callable[[QtBot, str], str]


def _kicked_dialog(qtbot: QtBot, text: str) -> str:
    dialog = KickedDialog(kick_info(text))
    qtbot.addWidget(dialog)
    rendered(dialog)
    return shown_in_labels(dialog)


def _login_error(qtbot: QtBot, text: str) -> str:
    window = LoginWindow()
    qtbot.addWidget(window)
    window.on_login_failed(99_999, text)  # a code we have no sentence for: the server's own words are shown
    window.on_credentials_unavailable(text)
    rendered(window)
    return shown_in_labels(window)


def _main_window(qtbot: QtBot, text: str) -> str:
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_user("alice")
    window.set_conversations([Conversation("c1", text, 0, text, 1000, 1)])
    window.show_history("c1", [CachedMessage("c1", "1", text, text, 1000)],
                        [OutboxItem("n1", "c1", text, 0.0, "failed", text, 99_999)])  # fmt: skip
    window.on_message("c1", {"id": "2", "content": text, "user": {"id": text}})
    rendered(window)
    rows = "\n".join(window.history_lines())
    items = "\n".join(window.conversation_lines())
    return "\n".join([shown_in_labels(window), rows, items])


def _status_bar(qtbot: QtBot, text: str) -> str:
    bar = ConnectionStatusBar()
    qtbot.addWidget(bar)
    bar.on_status_changed(2)
    bar.on_connect_failed(99_999, text)
    state = bar.findChild(QLabel, "connectionState")
    assert state is not None
    tip = tooltip_as_shown(state.toolTip())
    rendered(bar)
    words = shown_in_labels(bar)
    bar.on_kicked(kick_info(text))
    rendered(bar)
    return "\n".join([words, tip, shown_in_labels(bar)])


VIEWS: dict[str, tuple[Check, int]] = {
    # view -> (what it shows, the bound on one string from outside)
    "kicked-dialog": (_kicked_dialog, 80),
    "login-window": (_login_error, 600),
    "main-window": (_main_window, 80),
    "status-bar": (_status_bar, 600),
}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("case", ["img", "fake-alert", "rtl-override", "long", "nul"])
def test_hostile_text_is_shown_literally_and_nothing_is_loaded(qtbot: QtBot, watch: OpenWatch, view: str,
                                                               case: str) -> None:  # fmt: skip
    check, limit = VIEWS[view]
    text = hostile_texts(watch.path)[case]
    shown = check(qtbot, text)
    assert not watch.opened(within=0.05), "a view opened a file named in server text"
    expected = expected_shown(text, limit)
    # Each piece from outside sits in a bidi isolate where it joins our own words, so an RTL override in it
    # cannot reorder the sentence; the literal text itself is all there.
    assert expected in shown.replace("\u2068", "").replace("\u2069", "")
    if case == "rtl-override":
        assert f"\u2068{expected}\u2069" in shown or f"\n{expected}" in f"\n{shown}"
    assert len(shown) < 20 * 1000  # 100k characters never reach the screen whole
    if case == "fake-alert":
        assert "<h1 style='color:red'>SECURITY ALERT</h1>" in shown  # the markup itself, not a red headline


def test_the_watch_sees_rich_text_load_an_image(qtbot: QtBot, watch: OpenWatch) -> None:
    """The check above can fail: a label left to guess its format does open the file."""
    label = QLabel(f"<img src={watch.path}>")
    qtbot.addWidget(label)
    with contextlib.suppress(Exception):
        rendered(label)
    assert watch.opened(within=5)
