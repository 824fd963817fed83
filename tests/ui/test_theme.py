"""Dark and light: our palettes, error text and icons keep WCAG contrast on both; the choice is put in force
where the platform cannot switch, undone for "system", and error text follows a change of the system's scheme."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from im_desktop.ui.resources import icons_dir
from im_desktop.ui.theme import (
    ThemeKeeper,
    contrast,
    dark_palette,
    error_color,
    is_dark,
    light_palette,
    mark_error,
)

Role = QPalette.ColorRole
# Panels a tray icon or a window icon sits on: light ones (Windows, GNOME light) and dark ones (trayer's tint in
# the end-to-end walk, KDE/GNOME dark, macOS dark menu bar).
LIGHT_PANELS = ("#ffffff", "#efefef")
DARK_PANELS = ("#333333", "#1e1e1e", "#000000")
SVG = "{http://www.w3.org/2000/svg}"


def test_contrast_is_wcags_ratio() -> None:
    # Reference values from the WCAG 2 definition (and WebAIM's checker).
    assert contrast(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert contrast(QColor("#ffffff"), QColor("#ffffff")) == pytest.approx(1.0)
    assert contrast(QColor("#777777"), QColor("#ffffff")) == pytest.approx(4.48, abs=0.01)
    assert contrast(QColor("#0000ff"), QColor("#ffffff")) == pytest.approx(8.59, abs=0.01)


@pytest.mark.parametrize("palette", [light_palette(), dark_palette()], ids=["light", "dark"])
def test_our_palettes_keep_text_readable(palette: QPalette) -> None:
    def ratio(fg: Role, bg: Role, group: QPalette.ColorGroup = QPalette.ColorGroup.Active) -> float:
        return contrast(palette.color(group, fg), palette.color(group, bg))

    for fg, bg in ((Role.WindowText, Role.Window), (Role.Text, Role.Base), (Role.ButtonText, Role.Button),
                   (Role.ToolTipText, Role.ToolTipBase)):  # fmt: skip
        assert ratio(fg, bg) >= 7.0, (fg, bg)  # AAA for the text people read most
    for fg, bg in ((Role.HighlightedText, Role.Highlight), (Role.PlaceholderText, Role.Base), (Role.Link, Role.Base),
                   (Role.LinkVisited, Role.Base)):  # fmt: skip
        assert ratio(fg, bg) >= 4.5, (fg, bg)
    disabled = QPalette.ColorGroup.Disabled
    assert ratio(Role.Text, Role.Base, disabled) >= 3.0  # readable, and visibly not enabled
    assert ratio(Role.Text, Role.Base, disabled) < ratio(Role.Text, Role.Base)


@pytest.mark.parametrize("palette", [light_palette(), dark_palette()], ids=["light", "dark"])
def test_error_text_reads_on_its_schemes_window_and_fields(palette: QPalette) -> None:
    red = error_color(palette)
    for role in (Role.Window, Role.Base, Role.AlternateBase, Role.Button):
        assert contrast(red, palette.color(role)) >= 4.5, role


def test_the_one_red_for_both_was_not_enough() -> None:
    """Why error_color depends on the scheme: the light scheme's red fails on the dark window."""
    assert contrast(error_color(light_palette()), dark_palette().color(Role.Window)) < 4.5


def _icon_colours(svg: Path) -> tuple[QColor, QColor, list[QColor]]:
    """The speech bubble's fill and outline, and the colours of the glyph drawn on it."""
    root = ET.parse(svg).getroot()  # noqa: S314 - our own file
    shape, *rest = [e for e in root.iter() if e.tag in (f"{SVG}path", f"{SVG}g", f"{SVG}circle")]
    glyph = [QColor(e.get(a)) for e in rest for a in ("fill", "stroke") if e.get(a) not in (None, "none")]
    return QColor(shape.get("fill")), QColor(shape.get("stroke")), glyph


def _icons() -> list[Path]:
    found = sorted(icons_dir().glob("*.svg"))
    assert {p.stem for p in found} >= {"im-desktop", "tray-online", "tray-connecting", "tray-offline",
                                       "tray-needs-login", "tray-kicked"}  # fmt: skip
    return found


@pytest.mark.parametrize("svg", _icons(), ids=lambda p: p.stem)
def test_icons_read_on_light_and_dark_panels(svg: Path) -> None:
    """WCAG's 3:1 for graphics: the glyph on its bubble, and the bubble (its fill or outline) on any panel."""
    fill, outline, glyph = _icon_colours(svg)
    assert glyph, "no glyph found"
    for colour in glyph:
        assert contrast(colour, fill) >= 3.0, f"glyph {colour.name()} on {fill.name()}"
    for panel in (*LIGHT_PANELS, *DARK_PANELS):
        edge = max(contrast(fill, QColor(panel)), contrast(outline, QColor(panel)))
        assert edge >= 3.0, f"{fill.name()}/{outline.name()} on a {panel} panel: {edge:.2f}"


@pytest.fixture
def keeper(qapp: QApplication) -> Iterator[ThemeKeeper]:
    keeper = ThemeKeeper(qapp)
    try:
        yield keeper
    finally:
        keeper.apply("system")  # the other tests get the platform's palette and style back
        keeper.deleteLater()


def test_dark_and_light_hold_where_the_platform_cannot_switch(keeper: ThemeKeeper, qapp: QApplication,
                                                              qtbot: QtBot) -> None:  # fmt: skip
    label = mark_error(QLabel("wrong password"))
    qtbot.addWidget(label)
    native = qapp.palette().color(Role.Window).name()
    keeper.apply("dark")
    assert is_dark(qapp.palette())  # the offscreen platform ignores the request: the palette does it
    assert qapp.style().name().lower() == "fusion"
    assert label.styleSheet() == f"color: {error_color(dark_palette()).name()};"
    keeper.apply("light")
    assert not is_dark(qapp.palette())
    assert label.styleSheet() == f"color: {error_color(light_palette()).name()};"
    keeper.apply("system")
    assert qapp.palette().color(Role.Window).name() == native  # the platform's own again


def test_error_text_follows_the_systems_scheme_as_it_changes(keeper: ThemeKeeper, qapp: QApplication,
                                                             qtbot: QtBot) -> None:  # fmt: skip
    keeper.apply("system")
    label = mark_error(QLabel("wrong password"))
    qtbot.addWidget(label)
    light_style = label.styleSheet()
    # What a desktop switching to dark does: a new palette, and the style hints announce the scheme.
    qapp.setPalette(dark_palette())
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    qtbot.waitUntil(lambda: label.styleSheet() != light_style, timeout=2000)
    assert label.styleSheet() == f"color: {error_color(dark_palette()).name()};"
    qapp.setPalette(QPalette())
    qapp.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    qtbot.waitUntil(lambda: label.styleSheet() == light_style, timeout=2000)


def test_an_unknown_choice_is_the_system(keeper: ThemeKeeper) -> None:
    keeper.apply("neon")
    assert keeper.choice == "system"
