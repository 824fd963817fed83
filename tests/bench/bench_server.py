"""Server benchmark: idle sessions, logins/s and kicks of im-desktop; idle sessions of satori-python-server too."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from im_desktop.protocol import usersig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make the `tests` package importable
from tests.bench import wsload  # noqa: E402
from tests.bench.fd_attack import run_fd_attack  # noqa: E402
from tests.bench.replay_storm import replay_storm  # noqa: E402

RESULTS_FILE = HERE / "results" / "server.json"
TARGET_SESSIONS = 10_000
TARGET_LOGINS_PER_SECOND = 1_000.0
TARGET_KICK_P99_MS = 50.0
TARGET_STORM_P99_MS = 50.0  # bystanders' PING->PONG while 20 clients resume at once
TARGET_ATTACK_SUCCESS = 0.99  # legitimate logins that succeed during the 520-connection attack
SETTLE_SECONDS = 2.0  # after the last connect, before reading the RSS
KICK_WINDOW_SHARE = 0.8  # kicks are spread over this share of the hold
NOISY_CPU_PERCENT = 25.0  # other processes using more than this (of one core) make a phase's figures suspect
Result = dict[str, Any]


@dataclass
class ServerUnderTest:
    """A server subprocess that printed its base URL; its output is drained, counted and its head kept."""

    process: asyncio.subprocess.Process
    base_url: str
    stop_signal: signal.Signals
    output_head: list[str] = field(default_factory=list)
    output_lines: int = 0
    output_lines_while_serving: int = 0
    drains: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, argv: list[str], stop_signal: signal.Signals) -> ServerUnderTest:
        pipe = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(*argv, stdout=pipe, stderr=pipe)
        assert process.stdout is not None and process.stderr is not None
        first = b""
        with contextlib.suppress(TimeoutError):
            first = await asyncio.wait_for(process.stdout.readline(), 60.0)
        if not first.startswith(b"http://"):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            errors = (await process.stderr.read())[-2000:].decode(errors="replace")
            raise RuntimeError(f"{argv[1:3]} did not start: {first!r} {errors}")
        server = cls(process, first.decode().strip(), stop_signal)
        server.drains = [asyncio.create_task(server.drain(s)) for s in (process.stdout, process.stderr)]
        return server

    async def drain(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.output_lines += 1
            if len(self.output_head) < 20:
                self.output_head.append(raw.decode(errors="replace").rstrip())

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/v1/events"

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    async def stop(self) -> int | None:
        self.output_lines_while_serving = self.output_lines  # the rest is shutdown chatter
        if self.process.returncode is None:
            self.process.send_signal(self.stop_signal)
            try:
                await asyncio.wait_for(self.process.wait(), 30.0)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(*self.drains, return_exceptions=True)
        return self.process.returncode


class CpuMeter:
    """CPU used over an interval by some processes, and by all processes outside this benchmark, in % of a core."""

    def __init__(self, watched: list[psutil.Process]) -> None:
        self.watched = [(p.pid, p.create_time()) for p in watched]
        self.bench_itself = (os.getpid(), psutil.Process().create_time())
        self.started, self.at_start = time.monotonic(), self.cpu_seconds()

    @staticmethod
    def cpu_seconds() -> dict[tuple[int, float], float]:
        """User + system CPU seconds of every running process, by (pid, start time)."""
        seen = {}
        for proc in psutil.process_iter(["create_time", "cpu_times"]):
            if proc.info["cpu_times"] is not None:
                seen[(proc.pid, proc.info["create_time"])] = proc.info["cpu_times"].user + proc.info["cpu_times"].system
        return seen

    def read(self) -> tuple[list[float], float]:
        """(% of each watched process, % of the others; processes that ended meanwhile are missed)."""
        wall, now = time.monotonic() - self.started, self.cpu_seconds()
        percent = {key: (seconds - self.at_start.get(key, 0.0)) / wall * 100 for key, seconds in now.items()}
        others = sum(v for key, v in percent.items() if key not in (*self.watched, self.bench_itself))
        return [round(percent.get(key, 0.0), 1) for key in self.watched], round(others, 1)


def sign(keys: Result, user_id: str) -> str:
    return usersig.generate(int(keys["sdkappid"]), str(keys["secret_key"]), user_id, wsload.SIG_LIFETIME)


async def run_logins(
    server: ServerUnderTest, keys: Result, user_ids: list[str], args: argparse.Namespace, warmup: int
) -> Result:
    """Log in `user_ids` from --login-procs child processes started together; logins/s over the whole batch."""
    procs, children = max(1, min(args.login_procs, len(user_ids))), list[wsload.LoadChild]()
    try:
        for n in range(procs):
            children.append(await wsload.LoadChild.start("login", {
                "base_url": server.base_url, "sdkappid": keys["sdkappid"], "secret_key": keys["secret_key"],
                "user_ids": user_ids[n::procs], "warmup_user_ids": [f"warm-{n}-{j}" for j in range(warmup)],
                "concurrency": max(1, args.login_concurrency // procs),
            }))  # fmt: skip
        for child in children:
            await child.expect("warm", 120.0)
        meter = CpuMeter([server.ps, *(psutil.Process(c.process.pid) for c in children)])
        for child in children:
            await child.send({"command": "go"})
        done = [await child.expect("done", 300.0) for child in children]
        (server_cpu, *client_cpu), other_cpu = meter.read()
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    tokens = {user: token for m in done for user, token in m["tokens"].items()}
    seconds = max(m["finished"] for m in done) - min(m["started"] for m in done)
    return {"tokens": tokens, "attempted": len(user_ids), "ok": len(tokens),
            "errors": dict(sum((Counter(m["errors"]) for m in done), Counter())), "seconds": round(seconds, 3),
            "logins_per_second": round(len(tokens) / seconds, 1) if seconds else 0.0,
            "latency_ms": wsload.summarize([x for m in done for x in m["latencies"]]), "processes": procs,
            "concurrency": args.login_concurrency, "server_cpu_percent": server_cpu, "client_cpu_percent": client_cpu,
            "other_processes_cpu_percent": other_cpu}  # fmt: skip


async def hold_sessions(
    server: ServerUnderTest, tokens: list[str], args: argparse.Namespace,
    during_hold: Callable[[], Coroutine[Any, Any, Result]] | None = None,
) -> Result:  # fmt: skip
    """Open one identified WebSocket per token, keep them all alive for the hold, measure the server meanwhile."""
    rss_before = server.rss()
    procs, children = max(1, min(args.holder_procs, len(tokens))), list[wsload.LoadChild]()
    try:
        for n in range(procs):
            children.append(await wsload.LoadChild.start("hold", {
                "ws_url": server.ws_url, "tokens": tokens[n::procs],
                "connect_concurrency": max(1, args.connect_concurrency // procs),
            }))  # fmt: skip
        watched = [server.ps, *(psutil.Process(c.process.pid) for c in children)]
        meter = CpuMeter(watched)
        connected = [await child.expect("connected", 240.0) for child in children]
        (connect_server_cpu, *connect_client_cpu), connect_other_cpu = meter.read()
        await asyncio.sleep(SETTLE_SECONDS)
        rss_with_sessions, meter = server.rss(), CpuMeter(watched)
        for child in children:
            await child.send({"command": "measure"})
        hold_ends, hold_window = time.monotonic() + args.hold, [time.time(), time.time() + args.hold]
        side_task = asyncio.create_task(during_hold()) if during_hold is not None else None
        rss_samples = []
        while (left := hold_ends - time.monotonic()) > 0:
            await asyncio.sleep(min(5.0, left))
            rss_samples.append(server.rss())
        (server_cpu, *client_cpu), other_cpu = meter.read()
        side = await asyncio.wait_for(side_task, 120.0) if side_task is not None else None
        for child in children:
            await child.send({"command": "report"})
        reports = [await child.expect("report", 60.0) for child in children]
        for child in children:
            await child.send({"command": "close"})
        for child in children:
            await child.expect("closed", 120.0)
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    held = sum(m["open"] for m in connected)
    return {
        "attempted": len(tokens), "held_after_connect": held, "held_at_end": sum(m["open"] for m in reports),
        "closed_early": dict(sum((Counter(m["closed_early"]) for m in reports), Counter())),
        "connect_seconds": round(max(m["seconds"] for m in connected), 2),
        "connect_errors": dict(sum((Counter(m["errors"]) for m in connected), Counter())),
        "connect_cpu_percent": {"server": connect_server_cpu, "clients": connect_client_cpu,
                                "other_processes": connect_other_cpu},
        "rss_before_bytes": rss_before, "rss_with_sessions_bytes": rss_with_sessions,
        "rss_max_during_hold_bytes": max(rss_samples, default=rss_with_sessions),
        "rss_per_session_bytes": round((rss_with_sessions - rss_before) / held) if held else None,
        "ping_rtt_ms": wsload.summarize([rtt for m in reports for rtt in m["rtts"]]),
        "pings_sent": sum(m["pings_sent"] for m in reports),
        "pongs_received": sum(m["pongs_received"] for m in reports),
        "server_cpu_percent": server_cpu, "client_cpu_percent": client_cpu, "other_processes_cpu_percent": other_cpu,
        "client_loop_lag_ms": wsload.summarize([lag for m in reports for lag in m["loop_lags"]]),
        "holder_processes": procs, "hold_window_epoch": hold_window, "during_hold": side,
    }  # fmt: skip


async def start_ours(data_dir: str) -> ServerUnderTest:
    return await ServerUnderTest.start([
        sys.executable, "-m", "im_desktop.server", "--host", "127.0.0.1", "--port", "0", "--print-url",
        "--data-dir", data_dir, "--sandbox", "--log-level", "WARNING",
    ], signal.SIGTERM)  # fmt: skip


async def bench_im_desktop(args: argparse.Namespace, results: Result) -> None:
    ours: Result = results.setdefault("im_desktop", {})
    with tempfile.TemporaryDirectory(prefix="im-bench-") as data_dir:
        server = await start_ours(data_dir)
        try:
            keys = json.loads((Path(data_dir) / "server-keys.json").read_text(encoding="utf-8"))
            ours["rss_at_start_bytes"] = server.rss()
            users = [f"bench-{i:06d}" for i in range(args.logins)]
            ours["login"] = await run_logins(server, keys, users, args, warmup=args.login_concurrency)
            tokens = list(ours["login"].pop("tokens").values())[: args.sessions]
            if len(tokens) < args.sessions:  # more users for the idle sessions, not timed
                more = [f"bench-{i:06d}" for i in range(args.logins, args.logins + args.sessions - len(tokens))]
                ours["fill_login"] = await run_logins(server, keys, more, args, warmup=0)
                tokens += list(ours["fill_login"].pop("tokens").values())
            async with aiohttp.ClientSession() as http:
                body = wsload.login_body("warm-ws", sign(keys, "warm-ws"), "warm-device")
                token, error = await wsload.login_once(http, server.base_url, body)
                if token is None:
                    raise RuntimeError(f"warm-up login failed: {error}")
                await wsload.warm_event_stream(http, server.ws_url, token)
            window = args.hold * KICK_WINDOW_SHARE
            kicks = (
                (lambda: wsload.measure_kicks(server.base_url, server.ws_url, partial(sign, keys), args.kicks, window))
                if args.kicks else None
            )  # fmt: skip
            ours["sessions"] = await hold_sessions(server, tokens, args, kicks)
            ours["kicks"] = ours["sessions"].pop("during_hold")
        finally:
            ours["exit_code"] = await server.stop()
            ours["server_log_lines"], ours["server_log_head"] = server.output_lines_while_serving, server.output_head


async def bench_satori_peer(args: argparse.Namespace, results: Result) -> None:
    peer: Result = results.setdefault("satori_python_server", {})
    token = secrets.token_urlsafe(16)
    argv = [sys.executable, str(HERE / "satori_peer_server.py"), "--token", token]
    server = await ServerUnderTest.start(argv, signal.SIGINT)
    try:
        peer["rss_at_start_bytes"] = server.rss()
        async with aiohttp.ClientSession() as http:
            await wsload.warm_event_stream(http, server.ws_url, token)
        peer["sessions"] = await hold_sessions(server, [token] * args.sessions, args)  # one static token
        peer["sessions"].pop("during_hold")
    finally:
        peer["exit_code"] = await server.stop()
        peer["server_log_lines"], peer["server_log_head"] = server.output_lines_while_serving, server.output_head


async def bench_hardening(args: argparse.Namespace, results: Result) -> None:
    """Hostile load: 20 clients resuming from far back at once (re-sync), and from the furthest point the
    server still replays; then 520 idle and slowloris connections under a 512-descriptor limit."""
    hard: Result = results.setdefault("hardening", {})
    with tempfile.TemporaryDirectory(prefix="im-bench-storm-") as data_dir:
        server = await start_ours(data_dir)
        try:
            hard["storm_resync"] = await replay_storm(server.base_url, Path(data_dir), events=10_000)
            hard["storm_replay"] = await replay_storm(server.base_url, Path(data_dir), events=1_000, behind=1_000)
        finally:
            hard["storm_exit_code"] = await server.stop()
    hard["fd_attack"] = await run_fd_attack(nofile=512, attackers=520, duration=10.0)


# -- report ---------------------------------------------------------------------------------------
def ms(summary: Result | None, keys: tuple[str, ...] = ("p50", "p99")) -> str:
    if not summary or not summary.get("count"):
        return "n/a"
    return " / ".join(f"{summary[k]:.1f}" if summary[k] >= 10 else f"{summary[k]:.2f}" for k in keys)


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}" if ours is not None and theirs else "n/a"


def table_rows(results: Result) -> list[tuple[str, str, str, str]]:
    ours, peer = results.get("im_desktop", {}), results.get("satori_python_server") or {}
    mine, theirs = ours.get("sessions", {}), peer.get("sessions", {})
    absent = "skipped" if results["config"]["skip_peer"] else "n/a"

    def both(cell: Callable[[Result], str], *compare: Callable[[Result], float | None]) -> list[str]:
        versus = " / ".join(ratio(c(mine), c(theirs)) for c in compare) if mine and theirs else ""
        return [cell(mine) if mine else "n/a", cell(theirs) if theirs else absent, versus]

    def kib(s: Result) -> float | None:
        return s["rss_per_session_bytes"] / 1024 if s.get("rss_per_session_bytes") is not None else None

    def rtt(key: str) -> Callable[[Result], float | None]:
        return lambda s: s["ping_rtt_ms"].get(key)

    login, kicks, no_login = ours.get("login", {}), ours.get("kicks") or {}, "n/a (no login API)"
    rows = [
        [f"sessions held to the end (of {results['config']['sessions']})", *both(lambda s: str(s["held_at_end"]))],
        ["connect + IDENTIFY all (s)", *both(lambda s: f"{s['connect_seconds']:.1f}")],
        ["RSS per session (KiB)", *both(lambda s: f"{kib(s) or 0:.1f}", kib)],
        ["server RSS before -> with sessions (MiB)",
         *both(lambda s: f"{s['rss_before_bytes'] / 2**20:.0f} -> {s['rss_with_sessions_bytes'] / 2**20:.0f}")],
        ["PING->PONG p50 / p99 (ms)", *both(lambda s: ms(s["ping_rtt_ms"]), rtt("p50"), rtt("p99"))],
        ["PING->PONG max (ms)", *both(lambda s: ms(s["ping_rtt_ms"], ("max",)), rtt("max"))],
        ["PONGs / PINGs during hold", *both(lambda s: f"{s['pongs_received']} / {s['pings_sent']}")],
        ["server CPU during hold (%)",
         *both(lambda s: f"{s['server_cpu_percent']:.1f}", lambda s: s.get("server_cpu_percent"))],
        ["load client CPU (%) / loop lag p99 (ms)", *both(lambda s: " + ".join(
            f"{c:.0f}" for c in s["client_cpu_percent"]) + f" / {ms(s['client_loop_lag_ms'], ('p99',))}")],
        ["other processes' CPU during hold (%)", *both(lambda s: f"{s['other_processes_cpu_percent']:.0f}")],
        ["login throughput (logins/s)", f"{login['logins_per_second']:.0f}" if login else "n/a", no_login, ""],
        ["login latency p50 / p99 (ms)", ms(login.get("latency_ms")), no_login, ""],
        ["kick latency p50 / p99 / max (ms)", ms(kicks.get("latency_ms"), ("p50", "p99", "max")), no_login, ""],
        ["server log lines before shutdown", str(ours.get("server_log_lines", "n/a")),
         str(peer.get("server_log_lines", absent)), ""],
        *hardening_rows(results.get("hardening") or {}),
    ]  # fmt: skip
    return [(a, b, c, d) for a, b, c, d in rows]


def hardening_rows(hard: Result) -> list[list[str]]:
    if not hard:
        return []
    resync, replayed, attack = hard.get("storm_resync", {}), hard.get("storm_replay", {}), hard.get("fd_attack", {})
    logins = attack.get("logins", {})
    return [
        ["bystander PING->PONG p50 / p99 (ms), 20 resuming from sn 0 of 10k events (re-sync)",
         ms(resync.get("bystander_rtt_ms")), "", ""],
        ["bystander PING->PONG p50 / p99 (ms), 20 replaying 1,000 events each",
         ms(replayed.get("bystander_rtt_ms")), "", ""],
        ["legitimate logins OK during 520 idle/slowloris connections at nofile 512",
         f"{logins.get('ok', 0)} / {logins.get('attempted', 0)} ({logins.get('success_rate', 0) * 100:.1f} %)", "", ""],
        ["  their latency p50 / p99 (ms); server log during the attack (bytes)",
         f"{ms(logins.get('latency_ms'))}; {attack.get('server_log_bytes_during_attack', 'n/a')}", "", ""],
    ]  # fmt: skip


def target_checks(results: Result) -> list[Result]:
    ours = results.get("im_desktop", {})
    sessions, login, kicks = ours.get("sessions", {}), ours.get("login", {}), ours.get("kicks") or {}
    held, attempted = sessions.get("held_at_end", 0), sessions.get("attempted", 0)
    unanswered = sessions.get("pings_sent", 0) - sessions.get("pongs_received", 0)
    held_ok = held >= TARGET_SESSIONS and held == attempted and unanswered == 0
    rate = login.get("logins_per_second", 0.0)
    kick_p99: float | None = (kicks.get("latency_ms") or {}).get("p99")
    kicks_ok = kick_p99 is not None and kick_p99 < TARGET_KICK_P99_MS and kicks["completed"] == kicks["attempted"]
    return [
        {"target": f"hold {TARGET_SESSIONS} sessions with heartbeats", "measured":
         f"{held} of {attempted} held to the end, {unanswered} PINGs without PONG",
         "verdict": "SKIP" if results["config"]["sessions"] < TARGET_SESSIONS else "PASS" if held_ok else "FAIL"},
        {"target": f">= {TARGET_LOGINS_PER_SECOND:.0f} logins/s", "measured": f"{rate:.0f} logins/s over "
         f"{login.get('ok', 0)} logins", "verdict": "PASS" if rate >= TARGET_LOGINS_PER_SECOND else "FAIL"},
        {"target": f"kick p99 < {TARGET_KICK_P99_MS:.0f} ms", "measured": f"p99 {kick_p99} ms over "
         f"{kicks.get('completed', 0)} of {kicks.get('attempted', 0)} kicks",
         "verdict": "SKIP" if not results["config"]["kicks"] else "PASS" if kicks_ok else "FAIL"},
        *hardening_checks(results.get("hardening")),
    ]  # fmt: skip


def hardening_checks(hard: Result | None) -> list[Result]:
    if not hard:
        return [{"target": "hostile load", "measured": "skipped", "verdict": "SKIP"}]
    checks = []
    for key, what in (("storm_resync", "re-sync storm"), ("storm_replay", "replay storm")):
        p99 = (hard.get(key, {}).get("bystander_rtt_ms") or {}).get("p99")
        checks.append({"target": f"bystander PING->PONG p99 < {TARGET_STORM_P99_MS:.0f} ms during the {what}",
                       "measured": f"p99 {p99} ms", "verdict": "PASS" if p99 is not None and
                       p99 < TARGET_STORM_P99_MS else "FAIL"})  # fmt: skip
    rate = hard.get("fd_attack", {}).get("logins", {}).get("success_rate", 0.0)
    checks.append(
        {
            "target": f">= {TARGET_ATTACK_SUCCESS * 100:.0f} % logins OK during the 520-connection attack",
            "measured": f"{rate * 100:.1f} %",
            "verdict": "PASS" if rate >= TARGET_ATTACK_SUCCESS else "FAIL",
        }
    )
    return checks


def noise_notes(results: Result) -> list[str]:
    """Warn when something other than the server under test may have shaped the figures."""
    phases = [("im-desktop logins", results.get("im_desktop", {}).get("login")),
              ("im-desktop hold", results.get("im_desktop", {}).get("sessions")),
              ("satori hold", (results.get("satori_python_server") or {}).get("sessions"))]  # fmt: skip
    notes = [f"note: other processes used {p['other_processes_cpu_percent']:.0f}% CPU during the {name}: noisy"
             for name, p in phases if p and p["other_processes_cpu_percent"] > NOISY_CPU_PERCENT]  # fmt: skip
    notes += [f"note: the load client lagged ({p['client_loop_lag_ms']['p99']} ms p99) during the {name}"
              for name, p in phases[1:] if p and p["client_loop_lag_ms"].get("p99", 0) > 10]  # fmt: skip
    return notes + ([f"aborted: {results['aborted']}"] if "aborted" in results else [])


def render(results: Result) -> str:
    rows = [("metric", "im-desktop", "satori-python-server", "ratio"), *results["table"]]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines += ["", *(f"target {c['verdict']:<4}  {c['target']}: {c['measured']}" for c in results["targets"])]
    return "\n".join([*lines, *results["notes"]])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sessions", type=int, default=10_000, help="idle WebSocket sessions to hold (default 10000)")
    p.add_argument("--hold", type=float, default=60.0, help="seconds to hold them with heartbeats (default 60)")
    p.add_argument("--logins", type=int, default=5_000, help="logins in the timed batch (default 5000)")
    p.add_argument("--kicks", type=int, default=200, help="kicks measured during the hold (default 200)")
    p.add_argument("--skip-peer", action="store_true", help="do not run satori-python-server")
    p.add_argument("--skip-hardening", action="store_true", help="do not run the replay storm and the fd attack")
    p.add_argument("--login-procs", type=int, default=1, help="processes sending the logins (default 1)")
    p.add_argument("--login-concurrency", type=int, default=64, help="logins in flight in all (default 64)")
    p.add_argument("--holder-procs", type=int, default=1, help="processes holding the sessions (default 1)")
    p.add_argument("--connect-concurrency", type=int, default=200, help="handshakes in flight (default 200)")
    p.add_argument("--time-limit", type=float, default=720.0, help="abort after this many seconds (default 720)")
    return p.parse_args()


async def run(args: argparse.Namespace, results: Result) -> None:
    async with asyncio.timeout(args.time_limit):
        await bench_im_desktop(args, results)
        if not args.skip_peer:
            await bench_satori_peer(args, results)
        if not args.skip_hardening:
            await bench_hardening(args, results)


def main() -> int:
    args = parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers and load children inherit it
    results: Result = {"config": {
        **vars(args), "python": platform.python_version(), "aiohttp": aiohttp.__version__, "cpus": psutil.cpu_count(),
        "nofile_limit": hard, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True).stdout.strip(),
    }}  # fmt: skip
    started = time.monotonic()
    try:
        asyncio.run(run(args, results))
    except (RuntimeError, TimeoutError, OSError) as exc:
        results["aborted"] = wsload.short_error(exc)
    results["config"]["wall_seconds"] = round(time.monotonic() - started, 1)
    results.update(table=table_rows(results), targets=target_checks(results), notes=noise_notes(results))
    print(render(results))
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\n({results['config']['wall_seconds']:.0f} s; figures saved to {RESULTS_FILE})")
    return 1 if "aborted" in results or any(c["verdict"] == "FAIL" for c in results["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
