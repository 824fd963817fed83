"""Bundle benchmark: onedir, .tar.xz and .deb sizes against a naive PyInstaller build, and frozen start-up
(login window, remembered start to ONLINE) against the source install, measured in the same run."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the `tests` package importable

from tests.bench.bench_app import SETTINGS, Launch, launch  # noqa: E402 - the app benchmark's log watcher times both


def _bundle_size(path: Path) -> int:
    """packaging/bundle_rules.size: how the build script counts (symlinks once)."""
    spec = importlib.util.spec_from_file_location("bundle_rules", ROOT / "packaging" / "bundle_rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.size(path))


RESULTS_FILE = HERE / "results" / "bundle.json"
TARGETS_MB = {"onedir": 90.0, "tar_xz": 40.0, "deb": 40.0}


def build(work: Path) -> dict[str, Path]:
    out = work / "dist"
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--work", str(work / "build"), "--out",
                    str(out)], check=True)  # fmt: skip
    return {"onedir": work / "build" / "dist" / "im-desktop", "tar_xz": next(out.glob("*.tar.xz")),
            "deb": next(out.glob("*.deb"))}  # fmt: skip


def naive(work: Path) -> Path:
    """The same app frozen with PyInstaller's defaults from this (development) environment: the peer."""
    subprocess.run([sys.executable, "-m", "PyInstaller", str(ROOT / "im_desktop" / "__main__.py"), "--name",
                    "im-desktop", "--onedir", "--noconfirm", "--log-level", "WARN", "--distpath",
                    str(work / "naive"), "--workpath", str(work / "naive-build"), "--specpath", str(work)],
                   check=True, cwd=work)  # fmt: skip
    return work / "naive" / "im-desktop"


def _app(kind: str, bundle: Path, home: Path, *args: str) -> Launch:
    command = [str(bundle / "im-desktop")] if kind == "frozen" else [sys.executable, "-m", "im_desktop"]
    return launch([*command, "--home", str(home), *args], home / "logs" / "im-desktop.log", home / "stderr.txt")


def _trial(kind: str, bundle: Path, home: Path, until: str) -> tuple[float, float]:
    """Seconds from spawn to the first window (the main window, for a remembered user) and to `until`."""
    run = _app(kind, bundle, home, "--exit-after", until)
    try:
        seconds: float = run.wait_for(until)
        return run.wait_for("window"), seconds
    finally:
        code = run.stop(None)[0]
        if code != 0:
            raise RuntimeError(f"{kind} run ended with {code}: {run.stderr_tail()}")


def _remembered(kind: str, bundle: Path, home: Path) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps(SETTINGS))
    _trial(kind, bundle, home, "online")  # the first run fills the cache the later ones open


def starts(bundle: Path, work: Path, trials: int) -> dict[str, dict[str, list[float]]]:
    """Alternating frozen and source runs, so a busy moment of the machine hits both alike."""
    samples: dict[str, dict[str, list[float]]] = {k: {"window": [], "main": [], "online": []}
                                                   for k in ("frozen", "source")}  # fmt: skip
    homes = {kind: work / f"home-{kind}" for kind in samples}
    for kind, home in homes.items():
        _remembered(kind, bundle, home)
    for trial in range(trials):
        for kind in samples:
            fresh = work / f"fresh-{kind}-{trial}"
            samples[kind]["window"].append(_trial(kind, bundle, fresh, "window")[1])
            main, online = _trial(kind, bundle, homes[kind], "online")
            samples[kind]["main"].append(main)
            samples[kind]["online"].append(online)
    return samples


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary folder)")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    began = time.monotonic()
    try:
        made = build(work)
        sizes = {name: _bundle_size(path) for name, path in made.items()}
        sizes["naive_onedir"] = _bundle_size(naive(work))
        timing = starts(made["onedir"], work, options.trials)
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    median = {kind: {k: statistics.median(v) for k, v in by.items()} for kind, by in timing.items()}
    print(f"\nbundle benchmark on {platform.machine()}, Python {platform.python_version()}, {options.trials} start "
          f"trials each (medians)\n")  # fmt: skip
    print(f"{'measure':44} {'im-desktop':>12} {'peer':>12} {'ratio':>7}   {'target':>10}  result")
    rows: list[tuple[str, float, float | None, str, bool]] = [
        ("onedir size (peer: naive PyInstaller build)", sizes["onedir"], sizes["naive_onedir"], "<= 90 MB",
         sizes["onedir"] <= TARGETS_MB["onedir"] * 1e6),
        (".tar.xz size", sizes["tar_xz"], None, "<= 40 MB", sizes["tar_xz"] <= TARGETS_MB["tar_xz"] * 1e6),
        (".deb size", sizes["deb"], None, "<= 40 MB", sizes["deb"] <= TARGETS_MB["deb"] * 1e6),
    ]  # fmt: skip
    for name, ours, peer, target, ok in rows:
        ratio = f"{ours / peer:.2f}" if peer else ""
        print(f"{name:44} {_mb(ours):>12} {_mb(peer) if peer else '':>12} {ratio:>7}   {target:>10}  "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    # The start-up budget (bench_app's targets) holds for the frozen app too; and it is no slower than the source.
    for key, label, limit in (("window", "first run -> login window (peer: source)", 0.35),
                              ("main", "remembered -> main window (peer: source)", 0.4),
                              ("online", "remembered start -> ONLINE (peer: source)", 0.6)):  # fmt: skip
        frozen, source = median["frozen"][key], median["source"][key]
        target_ok = frozen < limit and frozen <= source * 1.05  # "no slower": within the machine's noise
        print(f"{label:44} {frozen:>10.3f} s {source:>10.3f} s {frozen / source:>7.2f}   "
              f"{f'< {limit} s':>10}  {'PASS' if target_ok else 'FAIL'}")  # fmt: skip
    report: dict[str, Any] = {"sizes_bytes": sizes, "start_s": timing, "median_s": median,
                              "trials": options.trials, "took_s": time.monotonic() - began}  # fmt: skip
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2))
    print(f"\ntook {report['took_s']:.0f} s; saved {RESULTS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
