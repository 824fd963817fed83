"""The bundled resources: every icon is a self-contained, well-formed SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG_NS = "{http://www.w3.org/2000/svg}"
# The desktop app shows one tray icon per login state; a missing file would only surface at runtime.
EXPECTED = {"im-desktop", "tray-online", "tray-connecting", "tray-offline", "tray-needs-login", "tray-kicked"}


def test_every_icon_the_app_needs_is_there() -> None:
    assert {path.stem for path in ICONS.glob("*.svg")} >= EXPECTED


@pytest.mark.parametrize("svg", sorted(ICONS.glob("*.svg")), ids=lambda path: path.name)
def test_icon_is_a_self_contained_svg(svg: Path) -> None:
    text = svg.read_text(encoding="utf-8")
    root = ET.fromstring(text)  # noqa: S314 - our own files, not untrusted input
    assert root.tag == f"{SVG_NS}svg"
    assert len(root.get("viewBox", "").split()) == 4, "without a viewBox the icon will not scale"
    # Icons must render offline, inside a frozen bundle: no fetched URLs, no embedded or linked bitmaps.
    assert 'href="http' not in text and "<image" not in text
    for element in root.iter():
        assert element.tag != f"{SVG_NS}image", element.tag
        links = [value for name, value in element.attrib.items() if name.endswith("href")]
        assert all(link.startswith("#") for link in links), links
    assert len(text.encode()) < 4096
