"""Keyring backends for the seams a real keyring cannot show on demand: locked, slow, missing."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Keeps secrets in a dict; `fail_with` makes every call raise, `delay` makes every call slow."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}
        self.fail_with: Exception | None = None
        self.delay = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with

    def get_password(self, service: str, username: str) -> str | None:
        self._enter()
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._enter()
        self.secrets[service, username] = password

    def delete_password(self, service: str, username: str) -> None:
        self._enter()
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class ThreadNotingKeyring(MemoryKeyring):
    """Notes the thread that created it: keyring builds the configured backend when first asked for it."""

    name = "ThreadNotingKeyring"
    created_in: ClassVar[list[threading.Thread]] = []

    def __init__(self) -> None:
        super().__init__()
        ThreadNotingKeyring.created_in.append(threading.current_thread())
