"""The notification rules on their own: who is notified of what, and what the notification says."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from im_desktop.ui.notify_rules import BODY_CHARS, WindowState, notice_for, should_notify

OPEN_DM = "dm-bob"
FOCUSED = WindowState(visible=True, minimized=False, active=True, open_channel=OPEN_DM)
HIDDEN = WindowState(visible=False, minimized=False, active=False, open_channel=OPEN_DM)
MINIMISED = WindowState(visible=True, minimized=True, active=True, open_channel=OPEN_DM)  # offscreen keeps it active
UNFOCUSED = WindowState(visible=True, minimized=False, active=False, open_channel=OPEN_DM)


def message(content: str = "hi", user: Any = None) -> dict[str, Any]:
    return {"id": "1", "content": content, "user": {"id": "bob", "name": "Bob"} if user is None else user}


@pytest.mark.parametrize(
    ("window", "channel", "expected"),
    [
        (FOCUSED, OPEN_DM, False),  # reading it right now
        (FOCUSED, "general", True),  # another conversation
        (HIDDEN, OPEN_DM, True),
        (MINIMISED, OPEN_DM, True),
        (UNFOCUSED, OPEN_DM, True),
        (WindowState(True, False, True, ""), OPEN_DM, True),  # no conversation open
    ],
    ids=["focused-open", "focused-other", "hidden", "minimised", "unfocused", "nothing-open"],
)
def test_a_message_notifies_unless_its_conversation_is_being_read(window: WindowState, channel: str,
                                                                   expected: bool) -> None:  # fmt: skip
    assert should_notify(channel, message(), own_id="alice", window=window, enabled=True) is expected


@pytest.mark.parametrize("window", [FOCUSED, HIDDEN, UNFOCUSED])
def test_own_messages_never_notify_even_when_they_mention_you(window: WindowState) -> None:
    mine = message('note to self <at id="alice"/>', {"id": "alice"})
    assert not should_notify("general", mine, own_id="alice", window=window, enabled=True)


@pytest.mark.parametrize("user", [{}, {"id": 7}, "bob", None, {"name": "Bob"}], ids=repr)
def test_a_message_that_names_no_writer_does_not_notify(user: Any) -> None:
    msg = {"id": "1", "content": "hi"} if user is None else {"id": "1", "content": "hi", "user": user}
    assert not should_notify("general", msg, own_id="alice", window=HIDDEN, enabled=True)


def test_the_setting_off_silences_everything_but_a_mention_of_you() -> None:
    assert not should_notify("general", message("hi all"), own_id="alice", window=HIDDEN, enabled=False)
    assert not should_notify("general", message('<at id="alicia"/> hi'), own_id="alice", window=HIDDEN,
                             enabled=False)  # fmt: skip
    assert should_notify("general", message('<b>look <at id="alice" name="Al"/></b>'), own_id="alice",
                         window=HIDDEN, enabled=False)  # fmt: skip
    assert should_notify("general", message('<at type="all"/> lunch'), own_id="alice", window=HIDDEN,
                         enabled=False)  # everyone includes you  # fmt: skip
    assert not should_notify("general", message("&lt;at id='alice'/&gt;"), own_id="alice", window=HIDDEN,
                             enabled=False)  # escaped text that only looks like a mention  # fmt: skip
    # ... but not while you are reading that conversation
    assert not should_notify(OPEN_DM, message('<at id="alice"/>'), own_id="alice", window=FOCUSED, enabled=False)


def test_the_notice_is_plain_bounded_text_with_the_sender(qapp: QApplication) -> None:
    content = "<b>Tom &amp; Jerry</b> <script>alert(1)</script><img src='http://x/y.png'/>\x1b[31m" + "z" * 1000
    notice = notice_for("dm-bob", message(content, {"id": "bob", "name": "Bob<i>", "nick": "Bobby"}), "Bobby")
    assert notice.channel_id == "dm-bob"
    assert notice.summary == "Bobby"  # a direct conversation is the sender's: no "in ..."
    assert notice.body.startswith("Tom & Jerry alert(1)[image]\u241b[31mzzz")  # decoded, elements gone, ESC shown
    assert len(notice.body) == BODY_CHARS and notice.body.endswith("\u2026")


def test_a_group_conversation_is_named_after_the_sender(qapp: QApplication) -> None:
    notice = notice_for("g1", message("hi", {"id": "bob"}), "Project \u202eX")
    assert notice.summary == "\u2068bob\u2069 in \u2068Project \u202eX\u2069"  # fenced: no reordering of ours
    assert notice_for("g1", message("hi", {"id": "bob"}), "").summary == "bob"
