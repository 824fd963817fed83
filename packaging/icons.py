"""Renders the app icon (resources/icons/im-desktop.svg) for the desktop menus: hicolor PNGs, .ico and .icns."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "icons" / "im-desktop.svg"
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 256)


def _render(size: int) -> object:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"not a valid SVG: {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image


def hicolor(target: Path, app_id: str) -> list[Path]:
    """target/<n>x<n>/apps/<app_id>.png for each size, and scalable/apps/<app_id>.svg."""
    written = []
    for size in HICOLOR_SIZES:
        path = target / f"{size}x{size}" / "apps" / f"{app_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _render(size).save(str(path), "PNG"):  # type: ignore[attr-defined]
            raise SystemExit(f"could not write {path}")
        written.append(path)
    scalable = target / "scalable" / "apps" / f"{app_id}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(SVG.read_bytes())
    return [*written, scalable]


def macos_iconset(folder: Path) -> None:
    """An .iconset folder for `iconutil -c icns` (macOS): icon_<n>x<n>[@2x].png."""
    folder.mkdir(parents=True, exist_ok=True)
    for size in (16, 32, 128, 256, 512):
        for scale, suffix in ((1, ""), (2, "@2x")):
            if not _render(size * scale).save(str(folder / f"icon_{size}x{size}{suffix}.png"), "PNG"):  # type: ignore[attr-defined]
                raise SystemExit(f"could not write the iconset in {folder}")


def windows_ico(path: Path) -> None:
    """A multi-size .ico: the ICO format is a directory of images, and PNG entries are what Windows reads for
    every size (Qt's own ico writer stores one size only)."""
    import struct

    from PySide6.QtCore import QBuffer, QIODevice

    images = []
    for size in ICO_SIZES:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        _render(size).save(buffer, "PNG")  # type: ignore[attr-defined]
        images.append((size, bytes(buffer.data().data())))
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images:
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + entries + blobs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hicolor", type=Path, help="write the hicolor theme icons under this folder")
    parser.add_argument("--app-id", default="org.imdesktop.ImDesktop")
    parser.add_argument("--ico", type=Path, help="write a Windows .ico here")
    parser.add_argument("--iconset", type=Path, help="write a macOS .iconset folder here")
    options = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    assert app is not None
    if options.hicolor:
        hicolor(options.hicolor, options.app_id)
    if options.ico:
        windows_ico(options.ico)
    if options.iconset:
        macos_iconset(options.iconset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
