"""When a message deserves a desktop notification, and what it says: pure rules, tested on their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication

from im_desktop.protocol.mentions import mentions
from im_desktop.ui.plain import SHORT, isolate, shown
from im_desktop.ui.rich_text import message_text

__all__ = ["BODY_CHARS", "Notice", "WindowState", "author_id", "notice_for", "should_notify"]

_CONTEXT = "Notifications"
BODY_CHARS = 200  # a preview, not the message: notification popups show two or three lines anyway


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the person can see of the main window right now."""

    visible: bool
    minimized: bool
    active: bool  # it has the keyboard focus (another window or a dialog over it takes that away)
    open_channel: str  # the conversation shown in it ("" when none)

    def seen(self, channel_id: str) -> bool:
        """Whether the person is reading this conversation now: open in the shown, focused window."""
        return bool(channel_id) and self.visible and not self.minimized and self.active and (
            self.open_channel == channel_id
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: plain, bounded text for the conversation `channel_id`."""

    channel_id: str
    summary: str
    body: str


def _user(message: Mapping[str, object]) -> Mapping[str, object]:
    user = message.get("user")
    return user if isinstance(user, Mapping) else {}


def author_id(message: Mapping[str, object]) -> str:
    """Who wrote a Satori message ("" when it does not say, or says it in a wrong type)."""
    value = _user(message).get("id")
    return value if isinstance(value, str) else ""


def should_notify(channel_id: str, message: Mapping[str, object], *, own_id: str, window: WindowState,
                  enabled: bool) -> bool:  # fmt: skip
    """Never for your own messages (sent here or from another device) or for one nobody is named as writing;
    never for the conversation you are reading; otherwise when notifications are on, and even when they are
    off if the message mentions you (by id, or everyone: protocol.mentions)."""
    author = author_id(message)
    if not author or author == own_id or window.seen(channel_id):
        return False
    content = message.get("content")
    return enabled or (isinstance(content, str) and mentions(content, own_id))


def _sender(message: Mapping[str, object]) -> str:
    user = _user(message)
    for key in ("nick", "name", "id"):
        value = user.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def notice_for(channel_id: str, message: Mapping[str, object], conversation: str = "") -> Notice:
    """The notification for a message: the sender (and the conversation, when it is not simply theirs) over a
    plain-text preview. `conversation` is the conversation's name as the list shows it."""
    sender = shown(_sender(message), SHORT)
    summary = sender
    if conversation and conversation not in (sender, author_id(message)):
        summary = _tr("{sender} in {conversation}").format(
            sender=isolate(sender), conversation=isolate(shown(conversation, SHORT))
        )
    content = message.get("content")
    body = shown(message_text(content), BODY_CHARS, multiline=True)  # markup read as text, and bounded before
    return Notice(channel_id, summary, body.strip())
