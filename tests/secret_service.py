"""A real Secret Service (gnome-keyring on a private D-Bus session bus) for tests of the keyring path."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import secretstorage


@contextmanager
def private_secret_service(home: Path, attempts: int = 3) -> Iterator[str]:
    """Start dbus-daemon and an unlocked gnome-keyring; yield the bus address; stop both afterwards.

    gnome-keyring now and then never unlocks its login collection when the machine is loaded (seen once
    in a full CI run); a fresh daemon in a fresh folder then comes up fine, so a stuck start is retried.
    """
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: apt-get install dbus gnome-keyring (.ci/run does this)")
    saved = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    for attempt in range(attempts):
        procs, address = _start(home / f"try{attempt}")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        try:
            if _wait_for_secret_service():
                break
        except BaseException:
            _stop(procs)
            raise
        _stop(procs)
    else:
        _restore(saved)
        raise RuntimeError(f"gnome-keyring did not come up unlocked in {attempts} tries")
    try:
        yield address
    finally:
        _restore(saved)
        _stop(procs)


def _start(home: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    keyring_daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert keyring_daemon.stdin is not None
    keyring_daemon.stdin.write(b"test-keyring-password")
    keyring_daemon.stdin.close()
    return [keyring_daemon, bus], address


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _restore(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
    else:
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved


def _wait_for_secret_service() -> bool:
    """Until the service is on the bus AND its default collection exists unlocked: gnome-keyring claims
    its bus name before `--unlock` has finished, and a test that starts in between finds it locked."""
    for _ in range(200):
        try:
            with secretstorage.dbus_init() as connection:
                if secretstorage.check_service_availability(connection):
                    collection = secretstorage.get_default_collection(connection)
                    if not collection.is_locked():
                        return True
        except secretstorage.exceptions.SecretStorageException:
            pass
        time.sleep(0.05)
    return False
