"""The free area a window is fitted into stays inside the screen, whatever Qt says about it at a scale factor."""

from __future__ import annotations

from PySide6.QtCore import QRect

from im_desktop.ui.screen_fit import usable_area

# A 1280x800 screen at 200 % is 640x400 logical pixels.
SCREEN = QRect(0, 0, 640, 400)


def test_qts_free_area_past_the_bottom_is_cut_at_the_screens_edge() -> None:
    # What Qt 6.11 on X11 says at 200 % below a 24-pixel top panel (seen on Xvfb with _NET_WORKAREA 0,24,1280,776):
    # the size scaled (776 / 2 = 388), the top not (24, not 12), so the bottom is 12 pixels past the screen's.
    skewed = QRect(0, 24, 640, 388)
    assert skewed.bottom() > SCREEN.bottom()
    assert usable_area(skewed, SCREEN) == QRect(0, 24, 640, 376)


def test_a_free_area_inside_the_screen_is_kept() -> None:
    for area in (QRect(0, 12, 640, 388), QRect(0, 0, 640, 388), QRect(40, 0, 600, 400), SCREEN):
        assert usable_area(area, SCREEN) == area


def test_a_free_area_off_the_screen_means_the_whole_screen() -> None:
    assert usable_area(QRect(700, 0, 100, 100), SCREEN) == SCREEN
    assert usable_area(QRect(), SCREEN) == SCREEN
