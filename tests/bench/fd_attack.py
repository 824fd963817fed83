"""The descriptor attack of issue 9: idle and slowloris connections against a server short of descriptors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from im_desktop.protocol import usersig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script: make the `tests` package importable
from tests.bench import wsload  # noqa: E402

ATTACK_NOFILE = 512  # the descriptor limit the server runs under
ATTACK_CONNECTIONS = 520  # more than it can hold
SLOWLORIS_SHARE = 0.5  # the rest of the attackers connect and send nothing at all
SLOWLORIS_DRIP = 1.0  # seconds between the header lines a slowloris attacker trickles in
CONNECT_TIMEOUT = 5.0
LOGIN_TIMEOUT = 5.0  # a login that takes longer counts as failed
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_HEAD_LINES = 10
BASELINE_LOGINS = 20  # before the attack, for comparison
Result = dict[str, Any]


@dataclass
class Attackers:
    """The attacking connections: how many got through, and when the server closed each one."""

    opened: int = 0
    connect_errors: Counter[str] = field(default_factory=Counter)
    closed_after: list[float] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open_one(self, host: str, port: int, slowloris: bool) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.connect_errors[wsload.short_error(exc)] += 1
            return
        self.opened += 1
        self.writers.append(writer)
        self.tasks.append(asyncio.create_task(self._hold(reader, writer, slowloris)))

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slowloris: bool) -> None:
        """Keep the connection until the server ends it (a read returns EOF or fails)."""
        opened = time.monotonic()
        drip = asyncio.create_task(self._drip(writer)) if slowloris else None
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass  # a server may answer (a refusal, a 408): keep reading until it closes
        self.closed_after.append(time.monotonic() - opened)
        if drip is not None:
            drip.cancel()

    @staticmethod
    async def _drip(writer: asyncio.StreamWriter) -> None:
        """A request line, then one more header line every SLOWLORIS_DRIP seconds, never the blank line."""
        with contextlib.suppress(OSError):
            writer.write(b"POST /im/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            n = 0
            while True:
                await asyncio.sleep(SLOWLORIS_DRIP)
                n += 1
                writer.write(b"X-Slow-%d: %d\r\n" % (n, n))

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def still_open(self) -> int:
        return self.opened - len(self.closed_after)


@dataclass
class Logins:
    attempted: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return len(self.latencies)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _ensure_descriptors(needed: int) -> None:
    """This process holds every attacking connection: make sure it may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _start_server(data_dir: Path, log_path: Path, nofile: int, code_dir: Path | None,
                        log_level: str) -> tuple[asyncio.subprocess.Process, str]:  # fmt: skip
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise RuntimeError("prlimit (util-linux) is needed to limit the server's descriptors")
    env = dict(os.environ)
    if code_dir is not None:  # another copy of the code (the old one, say): it goes first on the path
        env["PYTHONPATH"] = os.pathsep.join([str(code_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    argv = [prlimit, f"--nofile={nofile}", sys.executable, "-m", "im_desktop.server", "--host", "127.0.0.1",
            "--port", "0", "--print-url", "--data-dir", str(data_dir), "--sandbox",
            "--log-level", log_level]  # fmt: skip
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=log_file, cwd=code_dir or None, env=env
        )
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
    except TimeoutError:
        first = b""
    if not first.startswith(b"http://"):
        await _stop_server(process)
        raise RuntimeError(f"the server did not start: {first!r} {_read(log_path)[-2000:]!r}")
    return process, first.decode().strip()


async def _stop_server(process: asyncio.subprocess.Process) -> int | None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
    return process.returncode


async def _login_loop(base_url: str, keys: Result, until: float, concurrency: int, logins: Logins,
                      limit: int | None = None) -> None:  # fmt: skip
    """Legitimate users: each login on a connection of its own (as a starting app has), until `until` (or
    until `limit` logins were tried)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=LOGIN_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def worker(n: int) -> None:
            i = 0
            while time.monotonic() < until and (limit is None or logins.attempted < limit):
                user_id, i = f"legit-{n}-{i}", i + 1
                sig = usersig.generate(int(keys["sdkappid"]), str(keys["secret_key"]), user_id, wsload.SIG_LIFETIME)
                logins.attempted += 1
                sent = time.monotonic()
                token, error = await wsload.login_once(http, base_url, wsload.login_body(user_id, sig, "legit"))
                if token is not None:
                    logins.latencies.append(time.monotonic() - sent)
                else:
                    logins.errors[error or "?"] += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))


async def run_fd_attack(*, nofile: int = ATTACK_NOFILE, attackers: int = ATTACK_CONNECTIONS, duration: float = 10.0,
                        login_concurrency: int = 4, code_dir: Path | None = None,
                        log_level: str = "WARNING") -> Result:  # fmt: skip
    """Run the server under `prlimit --nofile=<nofile>`, open `attackers` idle and slowloris connections, and
    log legitimate users in for `duration` seconds meanwhile; the login success rate and latency, what became
    of the attackers, the server's CPU and descriptors, and the size of its log. `code_dir` runs another copy
    of the code (a checkout of the old version, to compare)."""
    _ensure_descriptors(attackers + 4 * login_concurrency + 64)
    result: Result = {"nofile": nofile, "attackers": attackers, "duration_s": duration,
                      "login_concurrency": login_concurrency,
                      "code_dir": str(code_dir) if code_dir else None}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="im-fd-attack-") as tmp:
        data_dir, log_path = Path(tmp) / "data", Path(tmp) / "server.log"
        process, base_url = await _start_server(data_dir, log_path, nofile, code_dir, log_level)
        crowd, logins = Attackers(), Logins()
        try:
            keys = json.loads((data_dir / "server-keys.json").read_text(encoding="utf-8"))
            before = Logins()
            await _login_loop(base_url, keys, time.monotonic() + 0.5, 1, before, limit=BASELINE_LOGINS)
            server = psutil.Process(process.pid)
            log_before, cpu_before = log_path.stat().st_size, server.cpu_times()
            started = time.monotonic()
            host, port = "127.0.0.1", int(base_url.rsplit(":", 1)[1])
            slow = round(attackers * SLOWLORIS_SHARE)
            await asyncio.gather(*(crowd.open_one(host, port, n < slow) for n in range(attackers)))
            result["attack_open_seconds"] = round(time.monotonic() - started, 2)
            fds: list[int] = []

            async def sample_descriptors() -> None:
                while True:
                    with contextlib.suppress(psutil.Error):
                        fds.append(server.num_fds())
                    await asyncio.sleep(0.25)

            sampler = asyncio.create_task(sample_descriptors())
            try:
                await _login_loop(base_url, keys, time.monotonic() + duration, login_concurrency, logins)
            finally:
                sampler.cancel()
            wall = time.monotonic() - started
            cpu = server.cpu_times()
            result.update({
                "baseline_login_ms": wsload.summarize(before.latencies),
                "logins": {"attempted": logins.attempted, "ok": logins.ok,
                           "success_rate": round(logins.ok / logins.attempted, 4) if logins.attempted else 0.0,
                           "latency_ms": wsload.summarize(logins.latencies), "errors": dict(logins.errors)},
                "attack": {"opened": crowd.opened, "connect_errors": dict(crowd.connect_errors),
                           "still_open_at_end": crowd.still_open(),
                           "closed_by_server_after_ms": wsload.summarize(crowd.closed_after)},
                "server_cpu_percent": round((cpu.user + cpu.system - cpu_before.user - cpu_before.system)
                                            / wall * 100, 1),
                "server_descriptors_max": max(fds, default=None),
                "server_log_bytes_during_attack": log_path.stat().st_size - log_before,
            })  # fmt: skip
        finally:
            await crowd.close()
            result["server_exit_code"] = await _stop_server(process)
            log_text = _read(log_path)
            result["server_log_bytes"] = len(log_text)
            lines = log_text.decode(errors="replace").splitlines()
            result["server_log_lines"] = len(lines)
            result["server_log_head"] = [line[:200] for line in lines[:LOG_HEAD_LINES]]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nofile", type=int, default=ATTACK_NOFILE, help=f"server descriptor limit ({ATTACK_NOFILE})")
    p.add_argument("--attackers", type=int, default=ATTACK_CONNECTIONS, help=f"({ATTACK_CONNECTIONS})")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of logins during the attack (10)")
    p.add_argument("--login-concurrency", type=int, default=4, help="logins in flight (4)")
    p.add_argument("--code-dir", type=Path, help="run the server from this copy of the code (e.g. the old one)")
    args = p.parse_args()
    result = asyncio.run(run_fd_attack(nofile=args.nofile, attackers=args.attackers, duration=args.duration,
                                       login_concurrency=args.login_concurrency, code_dir=args.code_dir))  # fmt: skip
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
