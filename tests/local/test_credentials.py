"""The credential store on a real Secret Service, and on keyrings that are locked, slow or missing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import keyring.backends.fail
import keyring.backends.SecretService
import keyring.core
import keyring.errors
import pytest

from im_desktop.local.credentials import CHUNK_CHARS, SERVICE, CredentialStore, CredentialStoreUnavailable
from tests.secret_service import private_secret_service
from tests.session.keyrings import MemoryKeyring, ThreadNotingKeyring


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[keyring.backends.SecretService.Keyring]:
    with private_secret_service(tmp_path_factory.mktemp("keyring-home")):
        backend = keyring.backends.SecretService.Keyring()
        assert backend.priority > 0, "the Secret Service backend is not usable"
        yield backend


@pytest.mark.asyncio
async def test_ticket_round_trip_on_a_real_secret_service(secret_service) -> None:
    store = CredentialStore(secret_service)
    assert "SecretService" in await store.describe()
    await store.save_ticket("sandbox", "alice", "eJy-short-ticket")
    assert await store.load_ticket("sandbox", "alice") == "eJy-short-ticket"
    assert await store.load_ticket("sandbox", "bob") is None
    await store.delete_ticket("sandbox", "alice")
    assert await store.load_ticket("sandbox", "alice") is None
    await store.delete_ticket("sandbox", "alice")  # deleting twice is fine


@pytest.mark.asyncio
async def test_tickets_longer_than_windows_allows_are_stored_in_chunks(secret_service) -> None:
    long_ticket = "".join(chr(ord("a") + i % 26) for i in range(3500))
    store = CredentialStore(secret_service)
    await store.save_ticket("work", "carol", long_ticket)
    assert await store.load_ticket("work", "carol") == long_ticket
    parts = [secret_service.get_password(SERVICE, f"ticket:work:carol#{i}") for i in range(4)]
    assert all(p is not None and len(p) <= CHUNK_CHARS for p in parts)
    await store.delete_ticket("work", "carol")
    assert secret_service.get_password(SERVICE, "ticket:work:carol#3") is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (keyring.errors.KeyringLocked("locked"), "locked"),
        (keyring.errors.InitError("no backend"), "not available"),
        (RuntimeError("dbus gone"), "not available"),
    ],
)
async def test_a_failing_keyring_says_so_and_deletes_nothing(error: Exception, needle: str) -> None:
    backend = MemoryKeyring()
    store = CredentialStore(backend)
    await store.save_ticket("sandbox", "alice", "kept")
    backend.fail_with = error
    for call in (store.load_ticket("sandbox", "alice"), store.save_ticket("sandbox", "alice", "new"),
                 store.delete_ticket("sandbox", "alice")):  # fmt: skip
        with pytest.raises(CredentialStoreUnavailable, match=needle):
            await call
    backend.fail_with = None
    assert await store.load_ticket("sandbox", "alice") == "kept"


@pytest.mark.asyncio
async def test_a_slow_keyring_times_out_without_blocking_the_loop() -> None:
    backend = MemoryKeyring()
    backend.delay = 1.0
    store = CredentialStore(backend, timeout=0.2)
    with pytest.raises(CredentialStoreUnavailable, match="did not answer in time"):
        await store.load_ticket("sandbox", "alice")


@pytest.mark.asyncio
async def test_no_keyring_at_all_is_reported_not_fatal() -> None:
    store = CredentialStore(keyring.backends.fail.Keyring())
    with pytest.raises(CredentialStoreUnavailable, match="not available"):
        await store.save_ticket("sandbox", "alice", "t")


@pytest.mark.asyncio
async def test_the_keyring_backend_is_found_off_the_event_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # keyring's discovery imports every backend and may ask D-Bus: on the UI thread that freezes the window.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.session.keyrings.ThreadNotingKeyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    ThreadNotingKeyring.created_in.clear()
    store = CredentialStore()
    assert await store.load_ticket("sandbox", "alice") is None
    assert await store.describe() == "ThreadNotingKeyring"
    assert len(ThreadNotingKeyring.created_in) == 1
    assert ThreadNotingKeyring.created_in[0] is not threading.main_thread()


@pytest.mark.asyncio
@pytest.mark.parametrize("header", ["chunks:x", "chunks:", "chunks:99999", "chunks:\u00b2", "plain-secret"])
async def test_a_damaged_keyring_entry_reads_as_nothing_kept(header: str) -> None:
    backend = MemoryKeyring()
    backend.secrets[SERVICE, "ticket:sandbox:alice"] = header
    assert await CredentialStore(backend).load_ticket("sandbox", "alice") is None
    await CredentialStore(backend).delete_ticket("sandbox", "alice")
    assert (SERVICE, "ticket:sandbox:alice") not in backend.secrets
