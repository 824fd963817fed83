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
def private_secret_service(home: Path) -> Iterator[str]:
    """Start dbus-daemon and an unlocked gnome-keyring; yield the bus address; stop both afterwards."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: apt-get install dbus gnome-keyring (.ci/run does this)")
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    keyring_daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert keyring_daemon.stdin is not None
    keyring_daemon.stdin.write(b"test-keyring-password")
    keyring_daemon.stdin.close()
    saved = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        _wait_for_secret_service()
        yield address
    finally:
        if saved is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved
        for proc in (keyring_daemon, bus):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if bus.stdout is not None:
            bus.stdout.close()


def _wait_for_secret_service() -> None:
    """Until the service is on the bus AND its default collection exists unlocked: gnome-keyring claims
    its bus name before `--unlock` has finished, and a test that starts in between finds it locked."""
    for _ in range(200):
        try:
            with secretstorage.dbus_init() as connection:
                if secretstorage.check_service_availability(connection):
                    collection = secretstorage.get_default_collection(connection)
                    if not collection.is_locked():
                        return
        except secretstorage.exceptions.SecretStorageException:
            pass
        time.sleep(0.05)
    raise RuntimeError("gnome-keyring did not come up unlocked on the private bus")
