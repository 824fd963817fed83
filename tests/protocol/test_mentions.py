"""mentions(): an `at` element for the reader or for everyone, and nothing that only looks like one."""

from __future__ import annotations

import time

import pytest

from im_desktop.protocol.mentions import mentions


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('<at id="alice"/> are you there?', True),
        ('hi <at id="alice" name="Alice">Alice</at>', True),
        ("<b>look <i><AT ID=alice></AT></i></b>", True),  # nested, upper case
        ('<at type="all"/> meeting now', True),
        ('<at type="here"/>', True),
        ('<at id="bob"/> and <at id="alicea"/>', False),
        ("@alice in plain text", False),
        ("&lt;at id=&quot;alice&quot;/&gt;", False),  # escaped: the characters, not an element
        ('<a href="x"><at id="carol"/></a>', False),
        ('<img title="&lt;at id=alice/&gt;"/>', False),  # inside an attribute value
        ("", False),
    ],
)
def test_a_mention_of_the_reader_or_of_everyone(content: str, expected: bool) -> None:
    assert mentions(content, "alice") is expected


def test_no_user_no_mention() -> None:
    assert mentions('<at id=""/>', "") is False


def test_hostile_content_costs_bounded_time() -> None:
    started = time.monotonic()
    assert mentions("<at " * 500_000 + '<at id="alice"/>', "alice") is False  # past the part that is read
    assert mentions("<b>" * 200_000, "alice") is False
    assert time.monotonic() - started < 2.0
