"""Session benchmark: login, return after a server outage (vs satori-python-client), black-hole and kick notice;
with --tls the same again over HTTPS/WSS (the server's own TLS, a CA made for the run), side by side."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before PySide6 is imported: no display needed
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make the `tests` package importable

import qasync  # noqa: E402
from PySide6.QtCore import SignalInstance  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from im_desktop.local.credentials import CredentialStore  # noqa: E402
from im_desktop.protocol.client import ProtocolClient  # noqa: E402
from im_desktop.protocol.models import LoginStatus  # noqa: E402
from im_desktop.session.controller import SessionController  # noqa: E402
from im_desktop.session.tickets import SandboxTickets  # noqa: E402
from im_desktop.session.types import SdkLoginStatus, ServerProfile, Timing  # noqa: E402
from tests.bench.session_processes import SatoriClientPeer, ServerProcess  # noqa: E402
from tests.bench.tls_compare import TLS_LIMIT, Baton, tls_report  # noqa: E402
from tests.session.keyrings import MemoryKeyring  # noqa: E402
from tests.session.proxy import FaultProxy  # noqa: E402
from tests.tls_support import Pki, https  # noqa: E402

RESULTS_FILE = HERE / "results" / "session.json"
DEMO_USERSIG = "/im/v1/demo/usersig"
OUTAGE_SECONDS = 5.0
FULL_TRIALS = {"login": 20, "outage": 5, "blackhole": 3, "kick": 20}
QUICK_TRIALS = {"login": 3, "outage": 1, "blackhole": 1, "kick": 3}
Clock = Callable[[], float]


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (q=0.5 is the median)."""
    ordered, position = sorted(values), q * (len(values) - 1)
    low, high = int(position), min(int(position) + 1, len(values) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "samples": []}
    return {"n": len(samples), "p50": quantile(samples, 0.5), "p90": quantile(samples, 0.9),
            "min": min(samples), "max": max(samples), "samples": [round(x, 6) for x in samples]}  # fmt: skip


def next_emission_at(source: SignalInstance, clock: Clock, accept: Callable[..., bool] = lambda *_: True,
                     ) -> asyncio.Future[float]:  # fmt: skip
    """Resolves with `clock()` at the signal's next emission whose arguments `accept` takes."""
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def check(*args: Any) -> None:
        if accept(*args) and not future.done():
            future.set_result(clock())

    source.connect(check)
    future.add_done_callback(lambda _: source.disconnect(check))
    return future


def is_online(value: int) -> bool:
    return value == LoginStatus.ONLINE


async def until_online(controller: SessionController, timeout: float = 30.0) -> None:
    if controller.current_login["status"] != LoginStatus.ONLINE:
        await asyncio.wait_for(next_emission_at(controller.status_changed, time.perf_counter, is_online), timeout)


def new_controller(url: str, cache_dir: Path, timing: Timing | None = None, ca_file: str = "") -> SessionController:
    return SessionController(ServerProfile("bench", url, ca_file=ca_file), cache_dir=cache_dir,
                             credentials=CredentialStore(MemoryKeyring()), platform="Linux", device_id="bench-desktop",
                             device_name="Benchmark desktop", timing=timing or Timing())  # fmt: skip


async def no_turn() -> None:
    pass


@dataclass
class Results:
    """Samples in seconds by metric (login, login_http_part, outage_ours, outage_peer, blackhole, kick, kick_reply),
    what explains them by metric, and the trials that failed."""

    samples: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    details: defaultdict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    turn: Callable[[], Awaitable[None]] = no_turn  # side by side (--tls): wait for the other side's trial to end


async def measure_login(server: ServerProcess, work: Path, trials: int, results: Results) -> None:
    await results.turn()
    controller = new_controller(server.url, work / "login", ca_file=server.ca_file)
    try:
        for trial in range(trials):
            await results.turn()
            online = next_emission_at(controller.status_changed, time.perf_counter, is_online)
            logged_in = next_emission_at(controller.login_status_changed, time.perf_counter,
                                         lambda status: status == SdkLoginStatus.LOGINED)  # fmt: skip
            clicked = time.perf_counter()
            await controller.login(f"bench-login-{trial}", SandboxTickets())
            results.samples["login"].append(await asyncio.wait_for(online, 10) - clicked)
            results.samples["login_http_part"].append(await asyncio.wait_for(logged_in, 10) - clicked)
            await controller.logout()
    finally:
        await controller.aclose()


async def measure_outage(server: ServerProcess, work: Path, trials: int, results: Results, *, with_peer: bool) -> None:
    await results.turn()
    controller = new_controller(server.url, work / "outage", ca_file=server.ca_file)
    attempts: list[float] = []
    controller.connecting.connect(lambda: attempts.append(time.time()))
    peer_token = ""
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(controller.aclose)
        await controller.login("bench-outage", SandboxTickets())
        await until_online(controller)
        if with_peer:
            client = ProtocolClient(server.url, ca_file=server.ca_file or None)
            stack.push_async_callback(client.aclose)
            ticket = await client.demo_usersig(DEMO_USERSIG, "bench-peer")
            peer_token = (await client.login("bench-peer", ticket, "Web", "bench-web", "Benchmark web")).token
        for _ in range(trials):
            await results.turn()
            peer = SatoriClientPeer(server.url, peer_token) if with_peer else None
            if peer is not None:
                await peer.start()
                await peer.until("ONLINE", 0.0, 30)
            back = next_emission_at(controller.status_changed, time.time, is_online)
            stopped = time.time()
            await server.stop()
            exited = time.time()
            await asyncio.sleep(OUTAGE_SECONDS)
            await server.start()
            listening = server.listening_at
            detail: dict[str, Any] = {"stop_to_exit": exited - stopped, "exit_to_listening": listening - exited}
            try:
                results.samples["outage_ours"].append(await asyncio.wait_for(back, 30) - listening)
                detail["ours_attempts_after_listening"] = [round(t - listening, 3) for t in attempts if t > stopped]
                if peer is not None:
                    results.samples["outage_peer"].append(await peer.until("ONLINE", stopped, 60) - listening)
                    detail["peer_changes_after_listening"] = [(w, round(t - listening, 3)) for w, t in peer.changes
                                                              if t > stopped]  # fmt: skip
            except TimeoutError as exc:
                results.failures.append(f"outage: not back online ({exc})")
            finally:
                if peer is not None:
                    detail["peer_exit_code"] = await peer.stop()
            results.details["outage"].append(detail)
            await until_online(controller)


async def measure_blackhole(server: ServerProcess, work: Path, trials: int, results: Results) -> None:
    await results.turn()
    proxy = FaultProxy("127.0.0.1", server.port)
    await proxy.start()
    timing = Timing()
    url = https(proxy.url) if server.tls else proxy.url  # the proxy relays bytes: TLS goes through end to end
    controller = new_controller(url, work / "blackhole", timing, ca_file=server.ca_file)
    try:
        await controller.login("bench-blackhole", SandboxTickets())
        for trial in range(trials):
            await results.turn()
            await until_online(controller)
            # Spread where in the ping cycle the link dies: right after a pong (worst case) and later.
            phase = timing.ping_interval * trial / trials
            await asyncio.sleep(phase)
            left = next_emission_at(controller.status_changed, time.perf_counter, lambda value: not is_online(value))
            proxy.blackhole()
            started = time.perf_counter()
            try:
                results.samples["blackhole"].append(await asyncio.wait_for(left, timing.dead_after + 30) - started)
                results.details["blackhole"].append({"phase_after_online": phase})
            except TimeoutError:
                results.failures.append("black-hole: still ONLINE after dead_after + 30 s")
            proxy.restore()
        await until_online(controller)
    finally:
        await controller.aclose()
        await proxy.close()


async def measure_kick(server: ServerProcess, work: Path, trials: int, results: Results) -> None:
    await results.turn()
    controller = new_controller(server.url, work / "kick", ca_file=server.ca_file)
    kicker = ProtocolClient(server.url, ca_file=server.ca_file or None)
    try:
        for _ in range(trials):
            await results.turn()
            await controller.login("bench-kick", SandboxTickets())  # ends the Android session of the last trial
            await until_online(controller)
            ticket = await kicker.demo_usersig(DEMO_USERSIG, "bench-kick")
            await asyncio.sleep(0.1)  # let the post-login resync finish: measure the kick, not a busy client
            kicked = next_emission_at(controller.kicked_offline, time.perf_counter)
            sent = time.perf_counter()
            await kicker.login("bench-kick", ticket, "Android", "bench-phone", "Benchmark phone")
            results.samples["kick_reply"].append(time.perf_counter() - sent)
            try:
                results.samples["kick"].append(await asyncio.wait_for(kicked, 10) - sent)
            except TimeoutError:
                results.failures.append("kick: no kicked_offline within 10 s")
    finally:
        await controller.aclose()
        await kicker.aclose()


def phases(with_peer: bool) -> tuple[tuple[str, Callable[..., Awaitable[None]], float], ...]:
    outage = partial(measure_outage, with_peer=with_peer)
    return (("login", measure_login, 0.1), ("kick", measure_kick, 0.2), ("blackhole", measure_blackhole, 22),
            ("outage", outage, 15))  # fmt: skip


async def run_all(options: argparse.Namespace, trials: dict[str, int], results: Results,
                  tls_results: Results | None = None) -> tuple[ServerProcess, ServerProcess | None]:  # fmt: skip
    """Every phase on plain HTTP; with `tls_results`, over HTTPS/WSS too, the two taking turns trial by trial."""
    with tempfile.TemporaryDirectory(prefix="bench-session-") as tmp:
        work = Path(tmp)
        server = ServerProcess(work / "server")
        tls_server = None
        if tls_results is not None:
            pki = Pki(work / "pki")  # a CA of the run's own, trusted through the profile's CA file
            tls_server = ServerProcess(work / "server-tls", pki.issue("server"), str(pki.ca_file))
        try:
            for one in (server, tls_server):
                if one is not None:
                    await one.start()
            for name, measure, seconds_each in phases(not options.skip_peer):
                turns = " (plain and TLS in turns)" if tls_server else ""
                print(f"  {name}: {trials[name]} trials, ~{seconds_each} s each{turns}", file=sys.stderr, flush=True)
                if tls_server is None or tls_results is None:
                    await measure(server, work / "plain", trials[name], results)
                    continue
                baton = Baton()
                results.turn, tls_results.turn = partial(baton.turn, 0), partial(baton.turn, 1)
                # satori-python-client does not know the run's CA: the TLS outage is ours alone.
                tls_measure = partial(measure_outage, with_peer=False) if name == "outage" else measure
                await asyncio.gather(
                    baton.run(0, measure(server, work / "plain", trials[name], results)),
                    baton.run(1, tls_measure(tls_server, work / "tls", trials[name], tls_results)),
                )
        finally:
            for one in (server, tls_server):
                if one is not None:
                    await one.stop()
        return server, tls_server


def report(results: Results, server: ServerProcess, options: argparse.Namespace) -> dict[str, Any]:
    login, kick, hole, ours, peer = (summary(results.samples[k]) for k in ("login", "kick", "blackhole", "outage_ours",
                                                                          "outage_peer"))  # fmt: skip
    ratio = peer["p50"] / ours["p50"] if ours["n"] and peer["n"] and ours["p50"] > 0 else None
    checks: dict[str, bool | None] = {
        "login_p50_under_100ms": login["p50"] < 0.100 if login["n"] else None,
        "outage_p50_at_most_1.5s": ours["p50"] <= 1.5 if ours["n"] else None,
        "outage_at_least_3x_faster_than_peer": ratio >= 3.0 if ratio is not None else None,
        "blackhole_p50_at_most_25s": hole["p50"] <= 25.0 if hole["n"] else None,
        "kick_p50_under_100ms": kick["p50"] < 0.100 if kick["n"] else None,
    }
    outage_checks = [checks["outage_p50_at_most_1.5s"], checks["outage_at_least_3x_faster_than_peer"]]

    def ms(s: dict[str, Any]) -> str:
        return f"{s['p50'] * 1000:.1f} / {s['p90'] * 1000:.1f}" if s["n"] else "-"

    rows = [
        ("login click -> ONLINE p50/p90 (ms)", ms(login), "n/a", "", "< 100 ms", checks["login_p50_under_100ms"]),
        ("back ONLINE after 5 s outage p50 (s)", f"{ours['p50']:.2f}" if ours["n"] else "-",
         f"{peer['p50']:.2f}" if peer["n"] else "-",
         f"{ratio:.1f}x" if ratio else "", "<= 1.5 s, >= 3x", None if None in outage_checks else all(outage_checks)),
        ("black-hole noticed p50/max (s)", f"{hole['p50']:.1f} / {hole['max']:.1f}" if hole["n"] else "-", "n/a", "",
         "<= 25 s", checks["blackhole_p50_at_most_25s"]),
        ("kick noticed p50/p90 (ms)", ms(kick), "n/a", "", "< 100 ms", checks["kick_p50_under_100ms"]),
    ]  # fmt: skip
    print(f"\n{'metric':<41}{'im-desktop':<16}{'satori-python-client':<23}{'ratio':<8}{'target':<18}result")
    for name, value, other, times, target, ok in rows:
        result = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<41}{value:<16}{other:<23}{times:<8}{target:<18}{result}")
    print(f"\ntrials: login {login['n']}, outage {ours['n']} (peer {peer['n']}), black-hole {hole['n']}, kick "
          f"{kick['n']}; controller Timing() defaults throughout; max: login {login.get('max', 0) * 1000:.1f} ms, "
          f"outage {ours.get('max', 0):.2f} s, kick {kick.get('max', 0) * 1000:.1f} ms")  # fmt: skip
    for failure in results.failures:
        print(f"FAILED TRIAL: {failure}")
    if set(server.exit_codes) - {0} or server.output:
        print(f"server exit codes {server.exit_codes}; server output: {list(server.output)}")
    machine = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
               "load_average_at_end": os.getloadavg()}  # fmt: skip
    outage = {"im_desktop": ours, "satori_python_client": peer, "ratio_peer_over_ours": ratio,
              "outage_s": OUTAGE_SECONDS, "trials": results.details["outage"]}  # fmt: skip
    return {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine, "options": vars(options),
            "timing": "Timing() defaults: ping 8 s, dead after 20 s, backoff 1 s doubling +-20 %, TCP probe",
            "login_click_to_online_s": login, "login_http_part_s": summary(results.samples["login_http_part"]),
            "outage_back_online_s": outage, "blackhole_noticed_s": {**hole, "trials": results.details["blackhole"]},
            "kick_noticed_s": kick, "kick_login_reply_s": summary(results.samples["kick_reply"]), "checks": checks,
            "failures": results.failures, "server_exit_codes": server.exit_codes}  # fmt: skip


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in FULL_TRIALS:
        parser.add_argument(f"--trials-{name}", type=int, help=f"default {FULL_TRIALS[name]} ({QUICK_TRIALS[name]} "
                            "with --quick)")  # fmt: skip
    parser.add_argument("--skip-peer", action="store_true", help="do not run satori-python-client in the outage")
    parser.add_argument("--quick", action="store_true", help="a few trials each, to check that the script works")
    parser.add_argument("--log", action="store_true", help="log im_desktop.session at INFO with timestamps")
    parser.add_argument("--tls", action="store_true", help="every phase again over HTTPS/WSS, reported beside the "
                        f"plain figures (TLS within {TLS_LIMIT}x of plain)")  # fmt: skip
    return parser.parse_args()


def main() -> int:
    options = parse_options()
    defaults = QUICK_TRIALS if options.quick else FULL_TRIALS
    trials = {k: defaults[k] if (n := getattr(options, f"trials_{k}")) is None else n for k in FULL_TRIALS}
    if options.log:
        logging.basicConfig(format="%(asctime)s.%(msecs)03d %(name)s: %(message)s", datefmt="%H:%M:%S")
        logging.getLogger("im_desktop.session").setLevel(logging.INFO)
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    results = Results()
    tls_results = Results() if options.tls else None
    began = time.monotonic()
    print(f"session benchmark: trials {trials}", file=sys.stderr, flush=True)
    try:
        server, tls_server = loop.run_until_complete(run_all(options, trials, results, tls_results))
    finally:
        loop.close()
    document = report(results, server, options)
    if tls_results is not None and tls_server is not None:
        server_state = {"exit_codes": tls_server.exit_codes, "output": list(tls_server.output)}
        document["tls"] = tls_report(results.samples, tls_results.samples, summary, tls_results.failures, server_state)
        document["checks"].update(document["tls"]["checks"])
    document["wall_seconds"] = round(time.monotonic() - began, 1)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(document, indent=2) + "\n")
    print(f"took {document['wall_seconds']} s; saved {RESULTS_FILE.relative_to(HERE.parents[1])}")
    failed = results.failures + (tls_results.failures if tls_results is not None else [])
    return 0 if all(ok is not False for ok in document["checks"].values()) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
