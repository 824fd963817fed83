"""Builds the Linux artefacts from one command: a clean build venv, the PyInstaller bundle, a .tar.xz, a .deb."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "packaging"
sys.path.insert(0, str(HERE))
import bundle_rules  # noqa: E402 - a sibling module, found through the path set just above

APP_ID = bundle_rules.APP_ID
PYINSTALLER = "pyinstaller>=6.10,<7"
# What Debian calls the machine, and what the tarball's name says.
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _run(*cmd: str | Path, **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)  # type: ignore[call-overload]  # noqa: S603


def build_venv(work: Path, python: str) -> Path:
    """A venv with the app's runtime dependencies and PyInstaller only: nothing from a development
    environment (numpy, jedi, GTK bindings) can reach the bundle. Reused while pyproject.toml is the same."""
    venv = work / "venv"
    stamp = venv / "im-desktop-build.stamp"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + PYINSTALLER.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing the build venv {venv}")
    else:
        shutil.rmtree(venv, ignore_errors=True)
        _run(python, "-m", "venv", venv)
        _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", ROOT, PYINSTALLER)
        stamp.write_text(wanted)
    # The app itself always comes fresh from the source tree (the spec puts ROOT first on the path).
    return venv / "bin" / "python"


def freeze(python: Path, work: Path) -> Path:
    _run(python, "-m", "PyInstaller", HERE / "im-desktop.spec", "--distpath", work / "dist", "--workpath",
         work / "pyinstaller", "--noconfirm", "--log-level", "WARN")  # fmt: skip
    return work / "dist" / "im-desktop"


def share_tree(python: Path, target: Path, version: str, exec_line: str | None) -> None:
    """share/: the desktop entry (a template when `exec_line` is None), icons, AppStream metadata."""
    applications = target / "applications"
    applications.mkdir(parents=True, exist_ok=True)
    entry = (HERE / "linux" / f"{APP_ID}.desktop.in").read_text(encoding="utf-8")
    if exec_line is None:
        (applications / f"{APP_ID}.desktop.in").write_text(entry, encoding="utf-8")
    else:
        entry = entry.replace("@EXEC@", exec_line).replace("@TRYEXEC@", exec_line)
        (applications / f"{APP_ID}.desktop").write_text(entry, encoding="utf-8")
    _run(python, HERE / "icons.py", "--hicolor", target / "icons" / "hicolor", "--app-id", APP_ID,
         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    metainfo = (HERE / "linux" / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    metainfo = metainfo.replace("@VERSION@", version).replace("@DATE@", _release_date())
    (target / "metainfo").mkdir(parents=True, exist_ok=True)
    (target / "metainfo" / f"{APP_ID}.metainfo.xml").write_text(metainfo, encoding="utf-8")


def _release_date() -> str:
    # SOURCE_DATE_EPOCH makes the artefacts reproducible; without it, the date of the last commit or today.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC) if epoch else datetime.datetime.now(datetime.UTC)
    return when.date().isoformat()


def tarball(python: Path, bundle: Path, work: Path, out: Path, version: str) -> Path:
    name = f"im-desktop-{version}-linux-{platform.machine()}"
    stage = work / "stage" / name
    shutil.rmtree(stage.parent, ignore_errors=True)
    shutil.copytree(bundle, stage / "im-desktop", symlinks=True)
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(HERE / "linux" / script, stage / script)
        (stage / script).chmod(0o755)
    share_tree(python, stage / "share", version, None)
    archive = out / f"{name}.tar.xz"
    archive.unlink(missing_ok=True)
    # xz with every core: a single-threaded -9 takes minutes for little gain.
    _run("tar", "-C", stage.parent, "--owner=0", "--group=0", "-cf", archive, "-I", "xz -T0 -6", name)
    return archive


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _elf_files(bundle: Path) -> list[Path]:
    return [p for p in sorted(bundle.rglob("*")) if p.is_file() and not p.is_symlink() and _is_elf(p)]


def _needed(elf: Path) -> list[str]:
    done = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True, check=False)  # noqa: S603,S607
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", done.stdout)


def drop_foreign_runpaths(bundle: Path) -> None:
    """pyenv builds its extensions with RUNPATH=<its prefix>/lib: on the build machine that folder would be
    searched before the bundle, and anywhere else it points at nothing. Paths inside the bundle ($ORIGIN) stay."""
    for elf in _elf_files(bundle):
        done = subprocess.run(["patchelf", "--print-rpath", str(elf)], capture_output=True, text=True,  # noqa: S603,S607
                              check=False)  # fmt: skip
        paths = [p for p in done.stdout.strip().split(":") if p]
        if paths and any(not p.startswith("$ORIGIN") for p in paths):
            kept = ":".join(p for p in paths if p.startswith("$ORIGIN"))
            _run("patchelf", *(["--set-rpath", kept] if kept else ["--remove-rpath"]), elf)


# Loaded only if the desktop offers them (the GTK theme on GNOME, IBus input): never a reason to install GTK.
_OPTIONAL_PLUGINS = ("platformthemes", "platforminputcontexts")


def _deb_depends(bundle: Path) -> list[str]:
    """The Debian packages of the system libraries the bundle links directly (it carries the rest)."""
    bundled = {p.name for p in bundle.rglob("*.so*")}
    known = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    where = dict(re.findall(r"^\s*(\S+) \(libc6,x86-64[^)]*\) => (\S+)$", known, re.MULTILINE))
    packages: set[str] = set()
    for elf in _elf_files(bundle):
        if any(part in _OPTIONAL_PLUGINS for part in elf.parts):
            continue
        for soname in _needed(elf):
            if soname in bundled or soname not in where:
                continue
            done = subprocess.run(["dpkg", "-S", os.path.realpath(where[soname])], capture_output=True, text=True,  # noqa: S603,S607
                                  check=False)  # fmt: skip
            if done.returncode == 0:
                packages.add(done.stdout.split(":", 1)[0].strip())
    glibc = platform.libc_ver()[1] or "2.36"
    packages.discard("libc6")
    # QtDBus opens libdbus at run time (no NEEDED entry): the tray's StatusNotifierItem and the keyring need it.
    packages.add("libdbus-1-3")
    return [f"libc6 (>= {glibc})", *sorted(packages)]


def deb(python: Path, bundle: Path, work: Path, out: Path, version: str) -> Path:
    root = work / "deb" / "im-desktop"
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(bundle, root / "opt" / "im-desktop", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "im-desktop").symlink_to("/opt/im-desktop/im-desktop")  # across top-level folders: absolute
    share_tree(python, root / "usr" / "share", version, "im-desktop")
    doc = root / "usr" / "share" / "doc" / "im-desktop"
    doc.mkdir(parents=True)
    shutil.copy2(HERE / "linux" / "deb" / "copyright", doc / "copyright")
    changelog = (HERE / "linux" / "deb" / "changelog.in").read_text(encoding="utf-8").replace("@VERSION@", version)
    changelog = changelog.replace("@DATE@", _rfc2822_date())
    _gzip(changelog.encode(), doc / "changelog.gz")
    overrides = root / "usr" / "share" / "lintian" / "overrides"
    overrides.mkdir(parents=True)
    shutil.copy2(HERE / "linux" / "deb" / "lintian-overrides", overrides / "im-desktop")
    control = (HERE / "linux" / "deb" / "control.in").read_text(encoding="utf-8")
    size_kib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    control = control.replace("@VERSION@", version).replace("@ARCH@", DEB_ARCH).replace("@SIZE@", str(size_kib))
    control = control.replace("@DEPENDS@", ", ".join(_deb_depends(bundle)))
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(control, encoding="utf-8")
    executable = root / "opt" / "im-desktop" / "im-desktop"
    for path in [root, *root.rglob("*")]:  # Debian wants 0755 folders and 0644 files (shared libraries too)
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path == executable else 0o644)
    package = out / f"im-desktop_{version}_{DEB_ARCH}.deb"
    package.unlink(missing_ok=True)
    _run("dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, package)
    return package


def _rfc2822_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = int(epoch) if epoch else int(time.time())
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(stamp))


def _gzip(data: bytes, path: Path) -> None:
    import gzip

    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as packed:
        packed.write(data)  # mtime 0 and no file name: lintian asks for reproducible gzip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the artefacts go (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="build folder (default: build/)")
    parser.add_argument("--python", default=sys.executable, help="the Python that makes the build venv")
    parser.add_argument("--bundle-only", action="store_true", help="stop after the PyInstaller bundle")
    options = parser.parse_args(argv)
    out, work = options.out.resolve(), options.work.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    version = bundle_rules.version(ROOT)
    started = time.monotonic()
    python = build_venv(work, options.python)
    bundle = freeze(python, work)
    drop_foreign_runpaths(bundle)
    made = [bundle]
    if not options.bundle_only:
        made.append(tarball(python, bundle, work, out, version))
        made.append(deb(python, bundle, work, out, version))
    for path in made:
        print(f"{path}: {bundle_rules.size(path) / 1e6:.1f} MB")
    print(f"built in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
