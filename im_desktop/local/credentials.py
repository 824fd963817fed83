"""Tickets in the OS keyring, called off the event loop; a failing keyring never deletes anything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import keyring
import keyring.backend
import keyring.errors

__all__ = ["CredentialStore", "CredentialStoreUnavailable"]

log = logging.getLogger(__name__)

SERVICE = "im-desktop"
# Windows' Credential Manager refuses secrets over 2560 bytes (about 1280 UTF-16 characters), and
# some tickets are longer, so a ticket is stored in chunks that each fit.
CHUNK_CHARS = 1000
_MAX_CHUNKS = 64
T = TypeVar("T")


class CredentialStoreUnavailable(Exception):
    """The keyring is missing, locked or too slow. Nothing was lost; try again later."""


class CredentialStore:
    """Remembers one ticket per (server profile, UserID). Secrets go nowhere else."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None, timeout: float = 10.0) -> None:
        self._backend = backend
        self._timeout = timeout
        self._lock = asyncio.Lock()  # Secret Service prompts are not re-entrant

    def _backend_now(self) -> keyring.backend.KeyringBackend:
        """The backend, resolved on first use in a worker thread: keyring's discovery imports every backend
        and may ask D-Bus, which must not stall the window."""
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    async def describe(self) -> str:
        """Where secrets are kept, for the user to see (e.g. 'SecretService Keyring')."""
        backend = await self._call(self._backend_now)
        return str(getattr(backend, "name", type(backend).__name__))

    async def _call(self, fn: Callable[[], T]) -> T:
        async with self._lock:
            try:
                return await asyncio.wait_for(asyncio.to_thread(fn), self._timeout)
            except TimeoutError:
                message = "The keyring did not answer in time; is it waiting to be unlocked?"
                raise CredentialStoreUnavailable(message) from None
            except keyring.errors.KeyringLocked:
                raise CredentialStoreUnavailable("The keyring is locked; unlock it and try again.") from None
            except (keyring.errors.KeyringError, RuntimeError, OSError) as exc:
                raise CredentialStoreUnavailable(f"The keyring is not available ({type(exc).__name__}).") from None

    async def save_ticket(self, profile: str, user_id: str, ticket: str) -> None:
        chunks = [ticket[i : i + CHUNK_CHARS] for i in range(0, len(ticket), CHUNK_CHARS)] or [""]
        if len(chunks) > _MAX_CHUNKS:
            raise CredentialStoreUnavailable("The ticket is too long to store.")
        name = _entry(profile, user_id)

        def write() -> None:
            backend = self._backend_now()
            for index, chunk in enumerate(chunks):
                backend.set_password(SERVICE, f"{name}#{index}", chunk)
            # The count goes last, so a half-written ticket is never read as whole.
            backend.set_password(SERVICE, name, f"chunks:{len(chunks)}")

        await self._call(write)

    async def load_ticket(self, profile: str, user_id: str) -> str | None:
        name = _entry(profile, user_id)

        def read() -> str | None:
            backend = self._backend_now()
            header = backend.get_password(SERVICE, name)
            # What a keyring holds is outside input too: a damaged or foreign entry reads as "nothing kept".
            count = _chunk_count(header)
            if count is None:
                return None
            parts = [backend.get_password(SERVICE, f"{name}#{i}") for i in range(count)]
            if any(not isinstance(p, str) for p in parts):
                return None
            return "".join(p for p in parts if isinstance(p, str))

        started = time.monotonic()
        try:
            return await self._call(read)
        finally:  # a slow keyring (a locked collection, a sleepy D-Bus service) shows in the log
            log.info("keyring read in %.0f ms", 1000 * (time.monotonic() - started))

    async def delete_ticket(self, profile: str, user_id: str) -> None:
        name = _entry(profile, user_id)

        def delete() -> None:
            backend = self._backend_now()
            count = _chunk_count(backend.get_password(SERVICE, name)) or 0
            for entry in [name, *(f"{name}#{i}" for i in range(count))]:
                with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone
                    backend.delete_password(SERVICE, entry)

        await self._call(delete)


def _chunk_count(header: object) -> int | None:
    """The chunk count of a header "chunks:N", or None when the entry is not one of ours or is damaged."""
    digits = header[7:] if isinstance(header, str) and header.startswith("chunks:") else ""
    if not (digits.isascii() and digits.isdigit()):  # isdigit() alone takes "²", which int() refuses
        return None
    count = int(digits)
    return count if 0 < count <= _MAX_CHUNKS else None


def _entry(profile: str, user_id: str) -> str:
    return f"ticket:{profile}:{user_id}"
