"""App benchmark: start-up to the login window and to ONLINE, and idle CPU/RSS, against a bare PySide6 window."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the `tests` package importable
from tests.bench.stats import quantile, summary  # noqa: E402

RESULTS_FILE = HERE / "results" / "app.json"
POLL_S = 0.005  # the log file is read every 5 ms; the time is time.monotonic() at the read that finds the line
TIMEOUT_S = 30.0
SETTINGS = {"last_user": "carol", "remember": True, "current_profile": "sandbox"}
TARGETS = {"window_s": 0.35, "main_window_s": 0.4, "online_s": 0.6, "idle_cpu_pct": 0.5, "idle_rss_mb": 150.0}
# Where a remembered start's time goes, as the app logs it (milliseconds): the session layer's imports and
# construction, the sandbox server's boot (spawn -> listening), the keyring read (none for the sandbox, whose
# tickets it hands out itself), and each login step.
STEPS = {
    "session_layer_ms": re.compile(r"^session layer ready in (\d+) ms"),
    "sandbox_boot_ms": re.compile(r"^sandbox server at .* listening (\d+) ms after it was started"),
    "keyring_ms": re.compile(r"^keyring read in (\d+) ms"),
    "discovery_ms": re.compile(r"^login steps: discovery (\d+) ms"),
    "ticket_ms": re.compile(r"^login steps: .*ticket (\d+) ms"),
    "login_ms": re.compile(r"^login steps: .*login (\d+) ms"),
    "ready_ms": re.compile(r"^login steps: .*READY (\d+) ms"),
}

# The peer: the least a PySide6 app can do. It logs in the app's format so the same watcher times both.
PEER = """
import logging, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app, window = QApplication(sys.argv[:1]), QWidget()
window.setWindowTitle("hello")
window.show()
logging.getLogger("peer").info("first window shown")
if sys.argv[2] == "window":
    QTimer.singleShot(0, app.quit)
sys.exit(app.exec())
"""


def event_of(message: str) -> str | None:
    if message == "first window shown":
        return "window"
    if message == "online":
        return "online"
    return "sandbox_url" if message.startswith("sandbox server at ") else None


class LogWatch:
    """Follows a log file from its size at creation; notes each event's first logged and first seen time."""

    def __init__(self, path: Path) -> None:
        self.path, self.partial = path, b""
        self.offset = path.stat().st_size if path.exists() else 0
        self.logged: dict[str, float] = {}  # the wall-clock timestamp in the line (ms resolution)
        self.seen: dict[str, float] = {}  # time.monotonic() when this process read the line
        self.steps: dict[str, float] = {}  # STEPS found in the log (ms, as the app measured them)

    def poll(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return
        now = time.monotonic()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            message = line.partition(": ")[2]
            for key, pattern in STEPS.items():
                if (found := pattern.match(message)) and key not in self.steps:
                    self.steps[key] = float(found.group(1))
            event = event_of(message)
            if event is not None and event not in self.seen:
                self.seen[event] = now
                self.logged[event] = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def proc_pids() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


@dataclass
class Launch:
    proc: subprocess.Popen[bytes]
    watch: LogWatch
    spawned_mono: float
    spawned_wall: float
    errors: Path
    known_pids: set[int]  # every pid that existed at spawn, then every new one already looked at
    child_seen: float | None = None  # time.monotonic() when the first child process was seen

    def look_for_child(self) -> None:
        """Cheaper than psutil's children() (which reads every /proc/*/stat): only new pids are read."""
        fresh = proc_pids() - self.known_pids
        for pid in fresh:
            with contextlib.suppress(OSError):  # field 4 of /proc/PID/stat, after "(name)", is the parent
                if int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1]) == self.proc.pid:
                    self.child_seen = self.child_seen or time.monotonic()
        self.known_pids |= fresh

    def wait_for(self, event: str, timeout: float = TIMEOUT_S) -> float:
        """Seconds from spawn until `event` was seen in the log."""
        deadline = time.monotonic() + timeout
        while event not in self.watch.seen:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.watch.poll()
                if event in self.watch.seen:
                    break
                raise RuntimeError(f"no {event!r} (exit {self.proc.poll()}): {self.stderr_tail()}")
            time.sleep(POLL_S)
            if self.child_seen is None:
                self.look_for_child()
            self.watch.poll()
        return self.watch.seen[event] - self.spawned_mono

    def since_spawn(self, event: str) -> float:
        return self.watch.logged[event] - self.spawned_wall

    def stop(self, sig: int | None = signal.SIGTERM) -> tuple[int, float]:
        """Exit code (-9: had to be killed after 30 s) and the seconds it took to end."""
        began = time.monotonic()
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:  # ignored SIGTERM for 30 s: SIGKILL it and the sandbox child
            for proc in [*psutil.Process(self.proc.pid).children(recursive=True)]:
                proc.kill()
            self.proc.kill()
            code = self.proc.wait()
        return code, time.monotonic() - began

    def stderr_tail(self) -> str:
        lines = self.errors.read_text(errors="replace").splitlines() if self.errors.exists() else []
        return " | ".join(line for line in lines[-6:] if "This plugin does not support" not in line)


CHILD_ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def launch(command: list[str], log: Path, errors: Path) -> Launch:
    watch = LogWatch(log)
    errors.parent.mkdir(parents=True, exist_ok=True)
    with errors.open("ab") as err:
        known = proc_pids()
        spawned_mono, spawned_wall = time.monotonic(), time.time()
        proc = subprocess.Popen(command, env=CHILD_ENV, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    return Launch(proc, watch, spawned_mono, spawned_wall, errors, known)


def launch_app(home: Path, *args: str) -> Launch:
    command = [sys.executable, "-m", "im_desktop", "--home", str(home), *args]
    return launch(command, home / "logs" / "im-desktop.log", home / "stderr.txt")


def launch_peer(work: Path, mode: str) -> Launch:
    return launch([sys.executable, "-c", PEER, str(work / "peer.log"), mode], work / "peer.log", work / "stderr.txt")


@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in (
        "window", "window_logged", "app_until_child", "child_until_url", "window_until_url", "peer_window",
        "online", "online_main_window", "online_sandbox_url", "online_after_url", *STEPS)})  # fmt: skip
    exit_codes: dict[str, list[int]] = field(default_factory=lambda: {"app": [], "peer": []})
    idle: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.samples[key].append(value)


def app_trial(home: Path, results: Results, until: str) -> None:
    """Until "window" in a fresh home (spawn the sandbox, its URL, the login window), or "online" when remembered."""
    run = launch_app(home, "--exit-after", until)
    try:
        seen = run.wait_for(until)
        if until == "window":  # the window comes first now; the sandbox's URL is logged after it
            run.wait_for("sandbox_url")
        url, shown = run.since_spawn("sandbox_url"), run.since_spawn("window")
        if until == "online":
            results.add(online=seen, online_main_window=shown, online_sandbox_url=url,
                        online_after_url=run.since_spawn("online") - url, **run.watch.steps)  # fmt: skip
        else:
            forked = float("nan") if run.child_seen is None else run.child_seen - run.spawned_mono
            results.add(window=seen, window_logged=shown, app_until_child=forked, child_until_url=url - forked,
                        window_until_url=url - shown)  # fmt: skip
    finally:
        results.exit_codes["app"].append(run.stop(None)[0])


def peer_trial(work: Path, results: Results) -> None:
    run = launch_peer(work, "window")
    try:
        results.add(peer_window=run.wait_for("window"))
    finally:
        results.exit_codes["peer"].append(run.stop(None)[0])


def remembered_home(home: Path) -> None:
    """A home whose first run went online, so the remembered user's cache exists."""
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps(SETTINGS))
    run = launch_app(home, "--exit-after", "online")
    run.wait_for("online")
    if (code := run.stop(None)[0]) != 0 or not list((home / "cache").glob("*/carol.sqlite3")):
        raise RuntimeError(f"preparing the remembered home failed (exit {code}): {run.stderr_tail()}")


def cpu_seconds(proc: psutil.Process) -> float:
    return float(sum(proc.cpu_times()[:2]))  # user + system, all threads


def sample_idle(procs: dict[str, psutil.Process], seconds: int) -> dict[str, Any]:
    """CPU as a % of one core over the whole window, RSS and CPU every second, context switches per second."""
    cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
    ctx0 = {k: sum(p.num_ctx_switches()) for k, p in procs.items()}
    rss: dict[str, list[float]] = {k: [] for k in procs}
    per_second: dict[str, list[float]] = {k: [] for k in procs}
    last, began = dict(cpu0), time.monotonic()
    for second in range(1, seconds + 1):
        time.sleep(max(0.0, began + second - time.monotonic()))
        for key, proc in procs.items():
            rss[key].append(proc.memory_info().rss / 2**20)
            now = cpu_seconds(proc)
            per_second[key].append(round((now - last[key]) * 100, 2))
            last[key] = now
    elapsed = time.monotonic() - began
    out: dict[str, Any] = {}
    for key, proc in procs.items():
        out[key] = {"cpu_pct": (cpu_seconds(proc) - cpu0[key]) / elapsed * 100, "rss_max_mb": max(rss[key]),
                    "rss_median_mb": quantile(rss[key], 0.5), "threads": proc.num_threads(),
                    "ctx_switches_per_s": (sum(proc.num_ctx_switches()) - ctx0[key]) / elapsed,
                    "seconds": round(elapsed, 2), "cpu_pct_each_second": per_second[key],
                    "rss_mb_each_second": [round(x, 1) for x in rss[key]]}  # fmt: skip
    return out


def idle_app(home: Path, seconds: int, results: Results) -> None:
    run = launch_app(home)
    try:
        run.wait_for("online")
        app = psutil.Process(run.proc.pid)
        child = [p for p in app.children() if "--run-server" in p.cmdline()]
        results.idle.update(sample_idle({"app": app, **({"sandbox": child[0]} if child else {})}, seconds))
    finally:
        code, took = run.stop()  # SIGTERM
        results.exit_codes["app"].append(code)
        results.idle.update(sigterm_exit_code=code, sigterm_to_exit_s=took)


def idle_peer(work: Path, seconds: int, results: Results) -> None:
    run = launch_peer(work, "idle")
    try:
        run.wait_for("window")
        results.idle.update(peer=sample_idle({"peer": psutil.Process(run.proc.pid)}, seconds)["peer"])
    finally:
        run.stop(signal.SIGTERM)  # a bare Qt loop has no SIGTERM handler: it dies of the signal, by design


def attempt(results: Results, what: str, step: Any, *args: Any) -> None:
    try:
        step(*args)
    except (RuntimeError, psutil.Error) as exc:
        results.failures.append(f"{what}: {exc}")
        print(f"  FAILED {what}: {exc}", file=sys.stderr, flush=True)


def run_all(options: argparse.Namespace, work: Path, results: Results) -> None:
    print(f"app benchmark: {options.trials} start-up trials each, idle {options.idle_seconds} s", file=sys.stderr)
    attempt(results, "warm-up app", app_trial, work / "warm", Results(), "window")  # discarded: cold caches
    attempt(results, "warm-up peer", peer_trial, work / "peer-warm", Results())
    for i in range(options.trials):  # interleaved, so drift on the machine hits both alike
        attempt(results, f"first run {i}", app_trial, work / f"first-{i}", results, "window")
        attempt(results, f"peer window {i}", peer_trial, work / f"peer-{i}", results)
    print("  first-run and peer start-up done", file=sys.stderr, flush=True)
    home, failed = work / "remembered", len(results.failures)
    attempt(results, "remembered home", remembered_home, home)
    if len(results.failures) > failed:
        return
    for i in range(options.trials):
        attempt(results, f"remembered {i}", app_trial, home, results, "online")
    print("  remembered start-up done; idle app, then idle peer", file=sys.stderr, flush=True)
    attempt(results, "idle app", idle_app, home, options.idle_seconds, results)
    attempt(results, "idle peer", idle_peer, work / "peer-idle", options.idle_seconds, results)


def report(results: Results, options: argparse.Namespace) -> dict[str, Any]:
    s = {key: summary(values, 4) for key, values in results.samples.items()}
    idle = results.idle

    def p(key: str, q: str = "p50") -> float | None:
        return s[key][q] if s[key]["n"] else None

    def iv(proc: str, key: str) -> float | None:
        return idle[proc][key] if proc in idle else None

    def check(value: float | None, limit: float) -> bool | None:
        return None if value is None else value < limit

    checks = {"window_p50_under_0.35s": check(p("window"), TARGETS["window_s"]),
              "main_window_p50_under_0.4s": check(p("online_main_window"), TARGETS["main_window_s"]),
              "online_p50_under_0.6s": check(p("online"), TARGETS["online_s"]),
              "idle_cpu_under_0.5pct": check(iv("app", "cpu_pct"), TARGETS["idle_cpu_pct"]),
              "idle_rss_max_under_150MB": check(iv("app", "rss_max_mb"), TARGETS["idle_rss_mb"]),
              "app_exit_codes_all_0": set(results.exit_codes["app"]) == {0}}  # fmt: skip

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    def one(key: str) -> str:
        return f"{num(p(key), '.3f')} s"

    def ms(key: str) -> str:
        return f"{num(p(key), '.0f')} ms" if s[key]["n"] else "- (not logged)"

    def pair(key: str) -> str:
        return f"{num(p(key), '.3f')} / {num(p(key, 'p90'), '.3f')} s"

    def ratio(ours: float | None, theirs: float | None, unit: str, digits: int) -> str:
        if ours is None or theirs is None:
            return ""
        times = f"{ours / theirs:.1f}x" if theirs > 0 else "inf"
        return f"{times} (+{ours - theirs:.{digits}f}{unit})"

    def res(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    secs = options.idle_seconds
    rows = [
        ("start -> login window visible p50/p90", pair("window"), pair("peer_window"),
         ratio(p("window"), p("peer_window"), " s", 3), "< 0.35 s", res(checks["window_p50_under_0.35s"])),
        ("  spawn -> sandbox child forked p50", one("app_until_child"), "", "", "", ""),
        ("  of which sandbox server start p50", one("child_until_url"), "", "", "", ""),
        ("  window shown -> sandbox URL p50", one("window_until_url"), "", "", "", ""),
        ("remembered start -> main window (cache) p50", one("online_main_window"), one("peer_window"),
         ratio(p("online_main_window"), p("peer_window"), " s", 3), "< 0.4 s",
         res(checks["main_window_p50_under_0.4s"])),
        ("remembered start -> ONLINE p50/p90", pair("online"), "n/a", "", "< 0.6 s",
         res(checks["online_p50_under_0.6s"])),
        ("  spawn -> sandbox URL p50", one("online_sandbox_url"), "", "", "", ""),
        ("  sandbox boot (its spawn -> listening) p50", ms("sandbox_boot_ms"), "", "", "", ""),
        ("  session layer (imports, controller) p50", ms("session_layer_ms"), "", "", "", ""),
        ("  keyring read p50", ms("keyring_ms"), "", "", "", ""),
        ("  login: discovery / ticket p50", f"{ms('discovery_ms')} / {ms('ticket_ms')}", "", "", "", ""),
        ("  login: login / READY p50", f"{ms('login_ms')} / {ms('ready_ms')}", "", "", "", ""),
        ("  sandbox URL -> ONLINE p50", one("online_after_url"), "", "", "", ""),
        (f"idle CPU over {secs} s (app process)", num(iv("app", "cpu_pct"), ".3f") + " %",
         num(iv("peer", "cpu_pct"), ".3f") + " %", ratio(iv("app", "cpu_pct"), iv("peer", "cpu_pct"), " %", 3),
         "< 0.5 %", res(checks["idle_cpu_under_0.5pct"])),
        (f"idle RSS max over {secs} s (app process)", num(iv("app", "rss_max_mb"), ".1f") + " MB",
         num(iv("peer", "rss_max_mb"), ".1f") + " MB", ratio(iv("app", "rss_max_mb"), iv("peer", "rss_max_mb"),
                                                              " MB", 1), "< 150 MB",
         res(checks["idle_rss_max_under_150MB"])),
        ("  idle RSS median / wakeups (ctx sw/s)",
         f"{num(iv('app', 'rss_median_mb'), '.1f')} MB / {num(iv('app', 'ctx_switches_per_s'), '.1f')}",
         f"{num(iv('peer', 'rss_median_mb'), '.1f')} MB / {num(iv('peer', 'ctx_switches_per_s'), '.1f')}", "", "", ""),
        ("idle CPU / RSS of the sandbox server",
         f"{num(iv('sandbox', 'cpu_pct'), '.3f')} % / {num(iv('sandbox', 'rss_max_mb'), '.1f')} MB", "", "", "", ""),
    ]  # fmt: skip
    print(f"\n{'metric':<42}{'im-desktop':<18}{'bare PySide6 window':<22}{'ratio':<20}{'target':<11}result")
    for name, ours, theirs, times, target, result in rows:
        print(f"{name:<46}{ours:<18}{theirs:<22}{times:<20}{target:<11}{result}")
    print(f"\ntrials: first run {s['window']['n']}, peer {s['peer_window']['n']}, remembered {s['online']['n']} "
          f"(+1 warm-up each, discarded); start-up = Popen -> log line read (5 ms polling, time.monotonic); "
          f"PASS on p50; bytecode {'as the environment has it' if options.as_is else 'cached (PYTHONPYCACHEPREFIX)'}."
          f"\nApp exit codes (--exit-after runs and SIGTERM after idle): {sorted(set(results.exit_codes['app']))}; "
          f"SIGTERM -> exit after idle: {num(idle.get('sigterm_to_exit_s'), '.2f')} s; peer exit codes: "
          f"{sorted(set(results.exit_codes['peer']))}")  # fmt: skip
    for failure in results.failures:
        print(f"FAILED: {failure}")
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "load_average_at_end": os.getloadavg()}  # fmt: skip
    return {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, "options": vars(options),
            "method": "start-up: time.monotonic() just before Popen to the first 5 ms poll of the log file that "
                      "finds the line; splits: the log's ms timestamps vs time.time() at spawn, and the sandbox "
                      "child first seen in /proc (5 ms polling); idle: psutil cpu_times delta / wall, RSS each 1 s",
            "targets": TARGETS, "startup_s": s, "idle": idle, "exit_codes": results.exit_codes, "checks": checks,
            "failures": results.failures,
            "child_env": {k: CHILD_ENV.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}}  # fmt: skip


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, help="start-up trials per case (default 10, 3 with --quick)")
    parser.add_argument("--idle-seconds", type=int, help="idle sampling window (default 60, 10 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few trials and a short idle, to check the script")
    parser.add_argument("--as-is", action="store_true", help="keep the environment's bytecode settings (by default "
                        "bytecode is cached outside the repo, as an installed app has it)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, homes) and print it")
    options = parser.parse_args()
    options.trials = options.trials or (3 if options.quick else 10)
    options.idle_seconds = options.idle_seconds or (10 if options.quick else 60)
    return options


def main() -> int:
    options = parse_options()
    results, began = Results(), time.monotonic()
    if not options.as_is:  # an editable checkout under PYTHONDONTWRITEBYTECODE=1 would compile im_desktop every start
        CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "im-desktop-bench-pycache")
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    try:
        run_all(options, work, results)
    finally:
        if options.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    document = report(results, options)
    document["wall_seconds"] = round(time.monotonic() - began, 1)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    print(f"took {document['wall_seconds']} s; saved {RESULTS_FILE.relative_to(ROOT)}")
    return 0 if all(ok is not False for ok in document["checks"].values()) and not results.failures else 1


if __name__ == "__main__":
    sys.exit(main())
