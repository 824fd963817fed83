"""Notifications on the real (virtual) desktop: alice's window loses the focus, bob writes, dunst pops up with his
name and a plain-text preview; a click on the popup brings alice's window back on bob's conversation.

Screenshots: notification.png (the popup on the desktop) and notification-opened.png (the window after the click),
in tests/e2e/screenshots with IM_DESKTOP_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.desktop import (
    SCREEN,
    Desktop,
    Rect,
    ServerClient,
    sandbox_url,
    wait_until,
)
from tests.notification_service import notification_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LOGIN_TITLE = "^Log in — IM Desktop$"


def _focused(desktop: Desktop) -> int:
    return int(desktop.x.run("xdotool", "getwindowfocus").strip() or 0)


def test_a_message_while_away_pops_up_and_a_click_opens_its_conversation(desktop: Desktop, tmp_path: Path) -> None:
    with notification_service(tmp_path / "dunst", x=desktop.x, address=desktop.bus_address) as service:
        app = desktop.start_app(tmp_path / "home")
        app.wait_log("first window shown")
        desktop.wait_window(app, LOGIN_TITLE)
        desktop.log_in(app, "alice", remember=False)
        app.wait_log("online")
        desktop.wait_window(app, "alice")
        [window] = desktop.x.visible_windows(app.pid, "alice")
        # alice turns to something else: the keyboard goes to the desktop (the root window).
        root = re.search(r"Window id: (0x[0-9a-f]+)", desktop.x.run("xwininfo", "-root"))
        assert root is not None
        desktop.x.run("xdotool", "windowfocus", str(int(root.group(1), 16)))
        wait_until("the focus away from alice's window", lambda: _focused(desktop) != window, 15)

        server = ServerClient(sandbox_url(app))
        try:
            bob = server.login("bob", server.demo_ticket("bob"), "Linux", "bob-laptop", "Bob's laptop")
            dm = server.satori(bob, "bob", "user.channel.create", {"user_id": "alice"})["id"]
            server.satori(bob, "bob", "message.create", {"channel_id": dm, "content": "Are you there, <b>alice</b>?"})
        finally:
            server.close()

        popup = wait_until("dunst's popup", service.popup, 30, describe=app.log)
        [call] = service.calls("Notify")
        args = call.notify_args()
        assert (args["app_name"], args["summary"], args["body"]) == ("im-desktop", "bob", "Are you there, alice?")
        rect = desktop.x.geometry(popup)
        corner = Rect(rect.x - 10, 0, SCREEN[0] - rect.x + 10, rect.y + rect.height + 10)  # with the tray's badge
        desktop.screenshot("notification.png", corner)

        service.click_popup()
        wait_until("alice's window to have the keyboard again", lambda: _focused(desktop) == window, 15)
        desktop.wait_element(app, "list item", re.compile(r"^bob · .*\nAre you there, alice\?$"))
        assert service.signals("ActionInvoked") == [(call.reply[0] if call.reply else -1, "default")]
        desktop.screenshot("notification-opened.png", desktop.x.geometry(window))

        desktop.quit_from_tray()
        assert app.wait_exit(30) == 0, app.stderr()[-3000:]
