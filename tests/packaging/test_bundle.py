"""The frozen bundle and the Linux artefacts: what they carry and leave out, the bundle's self-test (passing on
a real desktop, naming what is broken otherwise), valid desktop metadata, a lintian-clean .deb, and an NSIS
script that compiles."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.e2e.desktop import missing_packages, require_packages, run_desktop
from tests.packaging.conftest import ROOT, Built

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

APP_ID = "org.imdesktop.ImDesktop"
# The programs these tests run, and the Debian packages they come in.
TOOLS = {"lintian": "lintian", "desktop-file-validate": "desktop-file-utils", "appstreamcli": "appstream",
         "makensis": "nsis", "gio": "libglib2.0-bin", "patchelf": "patchelf", "cc": "gcc", "dpkg-deb": "dpkg",
         "readelf": "binutils"}  # fmt: skip


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_packages([package for tool, package in TOOLS.items() if shutil.which(tool) is None],
                     "the packaging tests")  # fmt: skip


def _run(*cmd: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)  # fmt: skip


def _headless() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def test_the_bundle_carries_what_the_app_needs_and_nothing_else(built: Built) -> None:
    inside = built.bundle / "_internal"
    needed = [
        "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so", "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/networkinformation/libqglib.so",
        "PySide6/Qt/plugins/networkinformation/libqnetworkmanager.so", "PySide6/Qt/lib/libQt6DBus.so.6",
        "PySide6/Qt/translations/qtbase_zh_CN.qm", "resources/translations/im_desktop_zh_CN.qm",
        "resources/icons/tray-online.svg", "resources/icons/im-desktop.svg",
        "cryptography/hazmat/bindings/_rust.abi3.so",  # secretstorage's D-Bus session encryption
    ]  # fmt: skip
    # Pure-Python modules (keyring's backends, secretstorage, jeepney) live in the archive inside the
    # executable: the self-test below imports them from there.
    assert [name for name in needed if not (inside / name).exists()] == []
    [keyring_meta] = inside.glob("keyring-*.dist-info")  # its entry points are how keyring finds its backends
    assert "SecretService = keyring.backends.SecretService" in (keyring_meta / "entry_points.txt").read_text()
    files = [p.relative_to(inside).as_posix() for p in inside.rglob("*")]
    unwanted = re.compile(r"(^|/)qml/|libQt6(Quick|Qml|Designer|Pdf|OpenGL)|/translations/qt(base)?_(?!zh_CN)"
                          r"|plugins/(tls|egldeviceintegrations|sqldrivers|printsupport|qmltooling)/"
                          r"|platforms/lib(qvnc|qlinuxfb|qeglfs|qminimal)|^lib(gtk-3|glib-2\.0|X11|ssl|GL)\.so"
                          r"|(^|/)(numpy|pytest|PyInstaller|tkinter|setuptools)(/|$)")  # fmt: skip
    assert [name for name in files if unwanted.search(name)] == []
    # ICU's data is an empty stand-in: Qt links the library but the app needs none of its 32 MB.
    assert (inside / "PySide6" / "Qt" / "lib" / "libicudata.so.73").stat().st_size < 100_000
    # No search path of the build machine is left in any library (pyenv builds carry one).
    libpython = next(inside.glob("libpython3*.so*"))
    assert not re.search(r"\.symtab|\.debug_", _run("readelf", "-S", libpython).stdout)  # stripped
    foreign = []
    for library in (inside / "python3.11" / "lib-dynload").glob("*.so"):
        runpath = _run("patchelf", "--print-rpath", library).stdout.strip()
        if runpath and not runpath.startswith("$ORIGIN"):
            foreign.append(f"{library.name}: {runpath}")
    assert foreign == []


def test_the_self_test_passes_from_the_bundle_on_a_desktop(built: Built, tmp_path: Path) -> None:
    require_packages(missing_packages())
    with run_desktop(tmp_path) as desktop:
        env = {**_headless(), "DISPLAY": desktop.x.display, "DBUS_SESSION_BUS_ADDRESS": desktop.bus_address,
               "HOME": str(tmp_path / "home")}  # fmt: skip
        done = _run(built.bundle / "im-desktop", "--self-test", env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "im-desktop self-test: passed (6 checks)"
    assert "ok     Qt platform: xcb, a system tray" in lines
    assert any(re.match(r"ok     keyring: SecretService.*: stored, read and deleted a test entry$", li) for li in lines)
    assert any(re.match(r"ok     login: .* logged in to ONLINE in \d+\.\d\d s$", li) for li in lines)
    assert done.stderr == ""  # no Qt warning, no Python warning: a clean start on a real desktop


def test_the_self_test_names_what_is_broken(built: Built, tmp_path: Path) -> None:
    broken = tmp_path / "im-desktop"
    shutil.copytree(built.bundle, broken, symlinks=True)
    (broken / "_internal" / "PySide6" / "Qt" / "plugins" / "iconengines" / "libqsvgicon.so").unlink()
    (broken / "_internal" / "resources" / "translations" / "im_desktop_zh_CN.qm").unlink()
    done = _run(broken / "im-desktop", "--self-test", env={**_headless(), "HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "im-desktop self-test: FAILED (SVG icons, translations)"
    assert "FAILED SVG icons: the SVG icon engine is missing" in done.stdout


def _extract_share(built: Built, tmp_path: Path) -> Path:
    with tarfile.open(built.tarball) as archive:
        archive.extractall(tmp_path, filter="data")
    [folder] = tmp_path.glob("im-desktop-*-linux-*")
    return folder


def test_the_desktop_entries_and_the_metainfo_validate(built: Built, tmp_path: Path) -> None:
    tar_root = _extract_share(built, tmp_path / "tar")
    template = tar_root / "share" / "applications" / f"{APP_ID}.desktop.in"
    as_installed = tmp_path / f"{APP_ID}.desktop"
    path = "/home/a user/.local/opt/im-desktop/im-desktop"
    as_installed.write_text(template.read_text().replace("@EXEC@", f'"{path}"').replace("@TRYEXEC@", path))
    deb_root = tmp_path / "deb"
    assert _run("dpkg-deb", "-x", built.deb, deb_root).returncode == 0
    for entry in (as_installed, deb_root / "usr" / "share" / "applications" / f"{APP_ID}.desktop"):
        done = _run("desktop-file-validate", entry)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), entry
    for metainfo in (tar_root / "share" / "metainfo" / f"{APP_ID}.metainfo.xml",
                     deb_root / "usr" / "share" / "metainfo" / f"{APP_ID}.metainfo.xml"):  # fmt: skip
        done = _run("appstreamcli", "validate", "--no-net", metainfo)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "E:" not in done.stdout and "W:" not in done.stdout, done.stdout


def test_the_deb_installs_to_opt_and_is_lintian_clean(built: Built) -> None:
    listing = _run("dpkg-deb", "-c", built.deb).stdout
    assert re.search(r"^-rwxr-xr-x root/root .* \./opt/im-desktop/im-desktop$", listing, re.MULTILINE)
    assert re.search(r" \./usr/bin/im-desktop -> /opt/im-desktop/im-desktop$", listing, re.MULTILINE)
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert f"./usr/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png" in listing
    assert f"./usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg" in listing
    depends = _run("dpkg-deb", "-f", built.deb, "Depends").stdout
    assert re.match(r"libc6 \(>= 2\.\d+\), ", depends)
    for package in ("libxcb-cursor0", "libxkbcommon-x11-0", "libdbus-1-3", "libssl3"):
        assert package in depends
    assert "libgtk-3-0" not in depends  # an optional theme plugin is no reason to install GTK
    done = _run("lintian", "--fail-on", "error", built.deb, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not re.search(r"^E: ", done.stdout, re.MULTILINE), done.stdout


def test_the_windows_installer_script_compiles(tmp_path: Path) -> None:
    """Windows installers are built on Windows; here makensis proves the script is sound against a folder laid
    out like the Windows bundle."""
    stage = tmp_path / "im-desktop"
    (stage / "_internal" / "resources" / "icons").mkdir(parents=True)
    (stage / "im-desktop.exe").write_bytes(b"MZ stand-in for the frozen app")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = _run(sys.executable, ROOT / "packaging" / "icons.py", "--ico",
                stage / "_internal" / "resources" / "icons" / "im-desktop.ico", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "im-desktop-0.1.0-windows.exe"
    done = _run("makensis", "-V2", "-WX", "-DVERSION=0.1.0", f"-DSOURCE_DIR={stage}", f"-DOUTFILE={out}",
                ROOT / "packaging" / "windows" / "im-desktop.nsi")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes()[:2] == b"MZ"
