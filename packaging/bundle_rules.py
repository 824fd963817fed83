"""What the frozen app carries and what it leaves out, read by the spec, the build script and the tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

__all__ = ["APP_ID", "KEPT_LANGUAGES", "NOT_MACOS_EXCLUDES", "PYTHON_EXCLUDES", "icu_stub", "keep", "size", "version"]

APP_ID = "org.imdesktop.ImDesktop"  # reverse DNS: the desktop entry, the AppStream id, the macOS bundle id
KEPT_LANGUAGES = ("zh_CN",)  # Qt's own catalogues for the languages the app itself is translated into

# Python packages that no code path of the app or the server imports, but that the scanner can reach through
# optional imports of the stdlib or of dependencies.
PYTHON_EXCLUDES = [
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib", "pydoc", "pydoc_data", "doctest", "unittest",
    "lib2to3", "ensurepip", "distutils", "setuptools", "pkg_resources", "pip", "test", "xmlrpc", "curses", "readline",
    "pytest", "_pytest", "mypy", "ruff", "IPython", "numpy", "PyInstaller",
    "pydantic", "pydantic_core", "aiohttp.worker",  # yarl's schema hooks and gunicorn's worker: never used
]  # fmt: skip
# Only the macOS login item writes a plist (plistlib, which needs expat); elsewhere expat would be an embedded copy
# of a system library, which lintian refuses in the .deb.
NOT_MACOS_EXCLUDES = ["plistlib", "pyexpat", "xml.parsers.expat"]

# Qt libraries the app never loads: QML and Quick, Designer, Help, SQL, Test, the Wayland compositor side,
# EGLFS and other embedded platforms, PDF, and OpenGL (every widget is drawn by the raster engine; the GL
# integrations of xcb and Wayland, which load it, stay out with it). Listed by name so a new dependency shows
# up as a crash in the self-test rather than as a silently missing feature.
_DROPPED_QT_LIBS = re.compile(
    r"libQt6(Qml|Quick|Labs|Lottie|Designer|Help|Sql|Test|UiTools|WaylandCompositor|WaylandEgl|EglFS|Pdf|"
    r"VirtualKeyboard|ShaderTools|Multimedia|Concurrent|PrintSupport|OpenGL|EglFs)"
)
# Libraries of the desktop itself, which every Linux desktop that can show a Qt window has, and which must match
# the running X or Wayland server, GL driver, D-Bus and fonts: the bundle uses the system's copies (AppImage's
# excludelist does the same). The .deb names their packages in Depends; install.sh checks them. Bundling the
# build machine's GTK, GLib or libGL instead would drag in 40 MB and clash with the desktop's own. OpenSSL 3,
# SQLite and libstdc++ come from the system too: the bundle needs the build machine's glibc (2.36, Debian 12)
# or newer, and every such system has them (PySide6's own wheels rely on the system's libstdc++ likewise).
_SYSTEM_LIBS = re.compile(
    r"lib(X[a-z0-9]*|xcb[-a-z0-9]*|xkbcommon[-a-z0-9]*|GL[A-Za-z]*|EGL|OpenGL|gbm|drm|wayland-[a-z]+|"
    r"fontconfig|freetype|expat|harfbuzz[-a-z]*|graphite2|png16|brotli[a-z]*|bz2|"
    r"glib-2\.0|gobject-2\.0|gio-2\.0|gmodule-2\.0|gthread-2\.0|dbus-1|systemd|gcrypt|gpg-error|lz4|lzma|zstd|"
    r"capi?|selinux|mount|blkid|pcre2-8|krb5[a-z]*|k5crypto|gssapi_krb5|com_err|keyutils|resolv|bsd|md|"
    r"gtk-3|gdk-3|gdk_pixbuf-2\.0|cairo[-a-z]*|pango[-a-z0-9.]*|atk[-a-z0-9.]*|atspi|epoxy|pixman-1|fribidi|"
    r"thai|datrie|jpeg|tiff|webp|deflate|jbig|Lerc|cloudproviders|tracker[-a-z0-9.]*|json-glib-1\.0|"
    r"readline|tinfo|ncursesw?|uuid|z|ssl|crypto|sqlite3|stdc\+\+|gcc_s|X11-xcb)\.so"
)
# Plugin folders kept, and within them the plugins kept (None: all of that folder).
_KEPT_PLUGINS: dict[str, set[str] | None] = {
    "platforms": {"libqxcb.so", "libqwayland.so", "libqoffscreen.so", "qwindows.dll", "libqcocoa.dylib",
                  "qoffscreen.dll", "libqoffscreen.dylib"},
    "platformthemes": None,  # GTK and xdg-desktop-portal themes: native look, dark mode
    "platforminputcontexts": {"libcomposeplatforminputcontextplugin.so", "libibusplatforminputcontextplugin.so"},
    "iconengines": None,  # the SVG icon engine: every icon is SVG
    "imageformats": {"libqsvg.so", "libqico.so", "qsvg.dll", "qico.dll", "libqsvg.dylib", "libqico.dylib"},
    "networkinformation": None,  # reachability for "the network is back"
    "wayland-shell-integration": {"libxdg-shell.so"},
    "wayland-decoration-client": None,
    "styles": None,  # Windows and macOS native styles
}  # fmt: skip


def keep(dest: str) -> bool:
    """Whether a file (its path inside the bundle, as PyInstaller names it) goes into the bundle."""
    path = PurePosixPath(dest.replace("\\", "/"))
    parts = path.parts
    if "Qt" in parts and "translations" in parts:
        return any(path.name == f"qtbase_{lang}.qm" for lang in KEPT_LANGUAGES)
    if "Qt" in parts and "plugins" in parts:
        index = parts.index("plugins")
        if index + 1 >= len(parts) - 1:
            return True
        folder = parts[index + 1]
        if folder not in _KEPT_PLUGINS:
            return False
        names = _KEPT_PLUGINS[folder]
        return names is None or path.name in names
    if "qml" in parts or "Qt/qml" in dest:
        return False
    if _DROPPED_QT_LIBS.search(path.name):
        return False
    return len(parts) > 1 or not _SYSTEM_LIBS.match(path.name)


def version(root: str | Path) -> str:
    """The project's version, read from im_desktop/__init__.py without importing it."""
    text = (Path(root) / "im_desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if match is None:
        raise ValueError("no __version__ in im_desktop/__init__.py")
    return match.group(1)


# ICU's data library is 32 MB of collation, conversion and locale tables. Qt uses ICU only for QCollator,
# non-UTF codecs and locale-specific case mapping, none of which the app calls, and falls back to its own
# tables when ICU has no data. QtCore still links the library, so an empty one with the same soname (ICU's
# own "stubdata" layout) takes its place.
_ICU_STUB = r"""
#include <stdint.h>
typedef struct { uint16_t headerSize; uint8_t magic1, magic2; } MappedData;
typedef struct { uint16_t size, reservedWord; uint8_t isBigEndian, charsetFamily, sizeofUChar, reservedByte;
                 uint8_t dataFormat[4], formatVersion[4], dataVersion[4]; } UDataInfo;
typedef struct { MappedData dataHeader; UDataInfo info; char padding[8]; uint32_t count, reserved;
                 struct { const char *nameOffset; const void *dataOffset; } toc[1]; int fakeNameAndData[4]; } Header;
__attribute__((visibility("default"))) const Header icudtVERSION_dat = {
    {32, 0xda, 0x27},
    {sizeof(UDataInfo), 0, 0, 0, 2, 0, {0x54, 0x6f, 0x43, 0x50}, {1, 0, 0, 0}, {0, 0, 0, 0}},
    {0, 0, 0, 0, 0, 0, 0, 0}, 1, 0,
    {{(const char *)&icudtVERSION_dat.fakeNameAndData, &icudtVERSION_dat.fakeNameAndData}},
    {0, 0, 0, 0}};
"""


def icu_stub(binaries: list[tuple[str, str, str]], workdir: str) -> list[tuple[str, str, str]]:
    """The binaries with ICU's data library swapped for an empty one (Linux, when a C compiler is there)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    result = []
    for dest, src, kind in binaries:
        match = re.fullmatch(r"libicudata\.so\.(\d+)", PurePosixPath(dest).name)
        if match and sys.platform.startswith("linux"):
            if compiler is None:
                print("WARNING: no C compiler: ICU's 32 MB data library stays in the bundle", file=sys.stderr)
            else:
                folder = Path(workdir) / "icu-stub"
                folder.mkdir(parents=True, exist_ok=True)
                source, stub = folder / "stub.c", folder / match.group(0)
                source.write_text(_ICU_STUB.replace("VERSION", match.group(1)), encoding="utf-8")
                command = [compiler, "-shared", "-fPIC", "-O2", "-s", f"-Wl,-soname,{match.group(0)}", "-o", str(stub),
                           str(source)]  # fmt: skip
                subprocess.run(command, check=True)  # noqa: S603 - the C compiler on PATH, fixed arguments
                src = str(stub)
        result.append((dest, src, kind))
    return result


def size(path: Path) -> int:
    """Bytes on disk of a file, or of a folder's files (symlinks counted once, as links: PyInstaller links
    each Qt library from the top of the bundle to where PySide6 keeps it)."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
