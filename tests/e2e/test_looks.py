"""Looks right everywhere, on the real (virtual) desktop: Simplified Chinese on the dark theme, and 200 % on a
1280x800 screen with a panel. (Light at 100 % is the main walk's main-window.png.)

Screenshots: zh-dark-login-window.png, zh-dark-main-window.png, hidpi-200-login-window.png and
hidpi-200-main-window.png, in tests/e2e/screenshots with IM_DESKTOP_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.e2e.a11y import Element
from tests.e2e.desktop import (
    SCREEN,
    AppProcess,
    Desktop,
    Rect,
    ServerClient,
    choose_look,
    sandbox_url,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# The Chinese below is copied from resources/translations/im_desktop_zh_CN.ts (what a reader of the translation
# sees), never asked of the app.
ZH_LOGIN_TITLE = "^登录 — IM Desktop$"
ZH = {"UserID": "用户 ID", "Log in": "登录", "Remember me": "记住我", "Connection status": "连接状态",
      "Online": "在线", "Message": "消息", "Conversations": "会话"}  # fmt: skip
LOGIN_TITLE = "^Log in — IM Desktop$"
MAIN_TITLE = "^im-desktop — alice( · .+)?$"  # and the server's name, if there is one
# Mean grey level (0 black .. 1 white) of a window drawn dark; the light theme's windows are above 0.8.
DARK_AT_MOST = 0.35


TS = Path(__file__).resolve().parents[2] / "resources" / "translations" / "im_desktop_zh_CN.ts"


def _english_ui_strings() -> set[str]:
    """The app's English strings that Chinese readers must not see: every source text of the translation whose
    Chinese differs (or is missing), as a widget's name or tool tip would carry it."""
    root = ET.parse(TS).getroot()  # noqa: S314 - our own file
    found: set[str] = set()
    for message in root.iter("message"):
        source, translation = message.findtext("source") or "", message.findtext("translation") or ""
        if source and source != translation and "{" not in source and "%" not in source:
            found.update((source, source.replace("&", "")))
    return found


def _english_shown(desktop: Desktop, app: AppProcess) -> list[str]:
    """The app's English strings that its widgets carry (names, descriptions, tool tips) right now."""
    english = _english_ui_strings()
    return sorted({text for e in desktop.elements(app) for text in (e.name, e.description) if text in english})


def _mean_grey(path: Path) -> float:
    """ImageMagick's mean of the picture's grey levels, 0 (black) to 1 (white)."""
    done = subprocess.run(["identify", "-colorspace", "Gray", "-format", "%[fx:mean]", str(path)],
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return float(done.stdout.strip())


def _fonts_mapped(pid: int) -> set[str]:
    """The font files the process has open or mapped: what it really draws with."""
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8", errors="replace")
    return {line.split()[-1] for line in maps.splitlines() if re.search(r"\.(ttf|ttc|otf)$", line)}


def _fc_match(pattern: str) -> str:
    done = subprocess.run(["fc-match", "--format", "%{family}", pattern], capture_output=True, text=True, timeout=30,
                          check=True)  # fmt: skip
    return done.stdout


def _status(desktop: Desktop, app: AppProcess, name: str) -> str:
    """The connection status as shown (Qt reads the label's tool tip out as its description)."""
    label = desktop.find(app, "label", name)
    return label.description.split("\n")[0] if label is not None else ""


def _online(desktop: Desktop, app: AppProcess) -> str | None:
    """The status bar's words once they say online (in Chinese or, untranslated, in English)."""
    status = _status(desktop, app, ZH["Connection status"])
    return status if ZH["Online"] in status or "Online" in status else None


def _bob_writes(app: AppProcess, lines: list[str]) -> None:
    """bob, from his own device, writes to the lobby everyone is in. He does it before alice logs in: she finds
    the messages in the history (a message arriving while her window is unfocused, and there is no window
    manager to focus it, would pop up a notification over the window: notifications have their own walk)."""
    server = ServerClient(sandbox_url(app))
    try:
        bob = server.login("bob", server.demo_ticket("bob"), "Linux", "bob-laptop", "Bob's laptop")
        for line in lines:
            server.satori(bob, "bob", "message.create", {"channel_id": "general", "content": line})
    finally:
        server.close()


# Chinese is written with full-width punctuation (hence the noqa: it is meant).
BOB_WRITES = [
    '你好，<at id="alice" name="alice"/>！今天下午开会吗？',  # noqa: RUF001
    '议程在这里：<a href="https://example.org/agenda">会议议程</a>',  # noqa: RUF001
    "Bring <b>the slides</b>, please &amp; thanks",
]
BOB_SHOWN = [
    "你好，@alice！今天下午开会吗？",  # noqa: RUF001
    "议程在这里：会议议程",  # noqa: RUF001
    "Bring the slides, please & thanks",
]


def test_chinese_on_the_dark_theme(desktop: Desktop, tmp_path: Path) -> None:
    home = tmp_path / "home"
    choose_look(home, language="zh_CN", theme="dark")
    assert "WenQuanYi" in _fc_match("sans-serif:lang=zh-cn"), "no Chinese font: fonts-wqy-microhei is missing"

    # The login window, in Chinese and dark.
    app = desktop.start_app(home)
    app.wait_log("first window shown")
    login = desktop.wait_window(app, ZH_LOGIN_TITLE)
    user_id = desktop.wait_element(app, "text", ZH["UserID"])
    desktop.wait_element(app, "push button", ZH["Log in"])
    desktop.wait_element(app, "check box", ZH["Remember me"])
    assert _english_shown(desktop, app) == [], "the login window shows English"
    shot = desktop.screenshot("zh-dark-login-window.png", login)
    assert _mean_grey(shot) <= DARK_AT_MOST, f"the login window is not dark: mean grey {_mean_grey(shot):.2f}"
    cjk = [path for path in _fonts_mapped(app.pid) if "wqy" in path.lower()]
    assert cjk, f"the app drew its Chinese with no CJK font: {sorted(_fonts_mapped(app.pid))}"
    _bob_writes(app, BOB_WRITES)  # a mention of alice, a link, formatting and an entity

    # alice logs in (the login window's fields by their Chinese names).
    desktop.click(user_id)
    desktop.x.type("alice")
    wait_until("the UserID to be typed", lambda: (e := desktop.find(app, "text", ZH["UserID"])) and
               desktop.a11y.text(e) == "alice", 10)  # fmt: skip
    desktop.x.key("Return")
    app.wait_log("online")
    main = desktop.wait_window(app, MAIN_TITLE)
    desktop.wait_element(app, "list", ZH["Conversations"])
    for text in BOB_SHOWN:
        desktop.wait_element(app, "list item", re.compile(rf"^bob · .*\n{re.escape(text)}$"))
    desktop.wait_element(app, "text", ZH["Message"])
    desktop.wait_tray("online")
    # Online, in whichever language it says it (the picture is taken first, so a failure below has one to look at).
    status = wait_until("the status bar to say online", lambda: _online(desktop, app), 30,
                        describe=lambda: desktop.describe(app))  # fmt: skip
    shot = desktop.screenshot("zh-dark-main-window.png", main)
    assert _mean_grey(shot) <= DARK_AT_MOST, f"the main window is not dark: mean grey {_mean_grey(shot):.2f}"
    assert ZH["Online"] in status and "Online" not in status, f"the status bar is not in Chinese: {status!r}"
    assert _english_shown(desktop, app) == [], "the main window shows English"

    desktop.quit_from_tray()
    assert app.wait_exit(30) == 0, app.stderr()[-3000:]


class Scaled:
    """Where a widget is in X's device pixels. Qt's accessibility bridge, like GTK's, gives places in logical
    pixels (X's divided by the scale factor), so a click there would land at half the distance at 200 %: the
    ratio comes from the window, whose size both know."""

    def __init__(self, desktop: Desktop, app: AppProcess, title: str, window: Rect) -> None:
        self.desktop, self.app, self.window = desktop, app, window

        def top() -> Element | None:
            return next((e for e in desktop.elements(app) if re.search(title, e.name) and e.rect[2] > 0), None)

        found = wait_until(f"the window {title!r} on the accessibility bus", top, 10,
                           describe=lambda: desktop.describe(app))  # fmt: skip
        self.origin = found.rect[:2]
        self.ratio = window.width / found.rect[2]

    def click(self, element: Element) -> None:
        cx, cy = element.center
        self.desktop.x.click(self.window.x + round((cx - self.origin[0]) * self.ratio),
                             self.window.y + round((cy - self.origin[1]) * self.ratio))  # fmt: skip


def _reserve_panel(desktop: Desktop) -> Rect:
    """What a window manager does for trayer's panel (its strut): publish the free area below it, which Qt reads
    as the screen's available geometry. Returns that area."""
    panel = desktop.tray_area()
    top = panel.y + panel.height
    area = Rect(0, top, SCREEN[0], SCREEN[1] - top)
    desktop.x.run("xprop", "-root", "-f", "_NET_SUPPORTED", "32a", "-set", "_NET_SUPPORTED", "_NET_WORKAREA")
    desktop.x.run("xprop", "-root", "-f", "_NET_WORKAREA", "32c", "-set", "_NET_WORKAREA",
                  f"{area.x}, {area.y}, {area.width}, {area.height}")  # fmt: skip
    return area


def test_at_200_percent_the_windows_fit_the_screen(desktop: Desktop, tmp_path: Path) -> None:
    """A 1280x800 laptop at 200 % with a panel at the top: the windows lie below the panel and inside the screen
    (Qt's own idea of the free area runs past the screen's bottom at this scale; see usable_area)."""
    assert SCREEN == (1280, 800)  # the laptop screen of the issue
    free = _reserve_panel(desktop)
    app = desktop.start_app(tmp_path / "home", scale=2)
    app.wait_log("first window shown")
    login = desktop.wait_window(app, LOGIN_TITLE)
    desktop.wait_element(app, "push button", "Log in")
    assert login.inside(free), f"the login window {login} is not inside the free area {free}"
    scaled = Scaled(desktop, app, LOGIN_TITLE, login)
    assert scaled.ratio == 2, f"the window is drawn at {scaled.ratio * 100:.0f} %, not 200 %"
    desktop.screenshot("hidpi-200-login-window.png", login)
    _bob_writes(app, BOB_WRITES)

    scaled.click(desktop.wait_element(app, "text", "UserID"))
    desktop.x.type("alice")
    wait_until("the UserID to be typed", lambda: (e := desktop.find(app, "text", "UserID")) and
               desktop.a11y.text(e) == "alice", 10)  # fmt: skip
    desktop.x.key("Return")
    app.wait_log("online")
    main = desktop.wait_window(app, MAIN_TITLE)
    for text in BOB_SHOWN:
        desktop.wait_element(app, "list item", re.compile(rf"^bob · .*\n{re.escape(text)}$"))
    main = desktop.window(app, MAIN_TITLE) or main
    assert main.inside(free), f"the main window {main} is not inside the free area {free}"
    assert Scaled(desktop, app, MAIN_TITLE, main).ratio == 2
    desktop.screenshot("hidpi-200-main-window.png", main)

    desktop.quit_from_tray()  # the panel is clear: its icon can be reached
    assert app.wait_exit(30) == 0, app.stderr()[-3000:]
