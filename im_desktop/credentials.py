"""Tickets in the OS keyring, called off the event loop; a failing keyring never deletes anything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        return self._backend or keyring.get_keyring()

    def describe(self) -> str:
        """Where secrets are kept, for the user to see (e.g. 'SecretService Keyring')."""
        backend = self.backend
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
        backend = self.backend

        def write() -> None:
            for index, chunk in enumerate(chunks):
                backend.set_password(SERVICE, f"{name}#{index}", chunk)
            # The count goes last, so a half-written ticket is never read as whole.
            backend.set_password(SERVICE, name, f"chunks:{len(chunks)}")

        await self._call(write)

    async def load_ticket(self, profile: str, user_id: str) -> str | None:
        name = _entry(profile, user_id)
        backend = self.backend

        def read() -> str | None:
            header = backend.get_password(SERVICE, name)
            if header is None or not header.startswith("chunks:"):
                return None
            parts = [backend.get_password(SERVICE, f"{name}#{i}") for i in range(int(header[7:] or 0))]
            return None if any(p is None for p in parts) else "".join(p or "" for p in parts)

        return await self._call(read)

    async def delete_ticket(self, profile: str, user_id: str) -> None:
        name = _entry(profile, user_id)
        backend = self.backend

        def delete() -> None:
            header = backend.get_password(SERVICE, name)
            count = int(header[7:]) if header and header.startswith("chunks:") else 0
            for entry in [name, *(f"{name}#{i}" for i in range(count))]:
                with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone
                    backend.delete_password(SERVICE, entry)

        await self._call(delete)


def _entry(profile: str, user_id: str) -> str:
    return f"ticket:{profile}:{user_id}"
