"""Fail closed at start: a strict keys file, private files (0700/0600), and a damaged database named in one line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from im_desktop.server import cli
from im_desktop.server.config import Keys, StartupError
from im_desktop.server.keyfile import load_or_create_keys
from im_desktop.server.migrations import migrate_sqlite
from im_desktop.server.store_sqlite import SqliteStore
from tests.server.support import SECRET_KEY, running_server

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX permission bits")
GOOD: dict[str, Any] = {"sdkappid": 1400000000, "secret_key": SECRET_KEY, "admin_key": "A" * 24}
SERVER = [sys.executable, "-m", "im_desktop.server"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_keys(path: Path, doc: Any) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    path.chmod(0o600)
    return path


BAD_KEYS = {
    "empty admin key": ({**GOOD, "admin_key": ""}, "'admin_key' must be"),
    "null admin key": ({**GOOD, "admin_key": None}, "'admin_key' must be"),
    "null secret key": ({**GOOD, "secret_key": None}, "'secret_key' must be"),
    "one-character secret key": ({**GOOD, "secret_key": "a"}, "'secret_key' must be"),
    "31 hex digits": ({**GOOD, "secret_key": "a" * 31}, "'secret_key' must be"),
    "non-hex secret key": ({**GOOD, "secret_key": "z" * 64}, "'secret_key' must be"),
    "numeric admin key": ({**GOOD, "admin_key": 123456789012345678901234567890}, "'admin_key' must be"),
    "short admin key": ({**GOOD, "admin_key": "x" * 23}, "'admin_key' must be"),
    "admin key with a space": ({**GOOD, "admin_key": "x" * 20 + " " + "x" * 20}, "'admin_key' must be"),
    "sdkappid as a string": ({**GOOD, "sdkappid": "1400000000"}, "'sdkappid' must be"),
    "sdkappid as a boolean": ({**GOOD, "sdkappid": True}, "'sdkappid' must be"),
    "sdkappid zero": ({**GOOD, "sdkappid": 0}, "'sdkappid' must be"),
    "sdkappid too large": ({**GOOD, "sdkappid": 2**32}, "'sdkappid' must be"),
    "sdkappid fractional": ({**GOOD, "sdkappid": 1400000000.5}, "'sdkappid' must be"),
    "missing field": ({k: v for k, v in GOOD.items() if k != "admin_key"}, "'admin_key' is missing"),
    "extra field": ({**GOOD, "debug": True}, "'debug' is unknown"),
    "a list": ([GOOD], "must be a JSON object"),
    "not JSON": ("{not json", "damaged (not JSON)"),
    "empty file": ("", "damaged (not JSON)"),
    "deeply nested": ("[" * 10_000, "damaged (not JSON)"),
}


@pytest.mark.parametrize(("doc", "needle"), BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_bad_keys_file_is_refused_in_one_line_naming_it(tmp_path: Path, doc: Any, needle: str) -> None:
    path = _write_keys(tmp_path / "server-keys.json", doc)
    with pytest.raises(StartupError) as raised:
        load_or_create_keys(path)
    message = str(raised.value)
    assert needle in message and str(path) in message
    assert "\n" not in message
    assert SECRET_KEY not in message  # a key is never quoted back


def test_the_command_line_stops_on_a_bad_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_keys(tmp_path / "server-keys.json", {**GOOD, "admin_key": ""})
    assert cli.main(["--port", "0", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("im-desktop-server: The keys file ")
    assert "'admin_key' must be" in err


def test_a_good_keys_file_is_read_and_a_new_one_is_private(tmp_path: Path) -> None:
    keys = load_or_create_keys(_write_keys(tmp_path / "server-keys.json", GOOD))
    assert (keys.sdkappid, keys.secret_key, keys.admin_key) == (GOOD["sdkappid"], SECRET_KEY, "A" * 24)
    made = tmp_path / "new" / "server-keys.json"
    created = load_or_create_keys(made)
    assert load_or_create_keys(made) == created  # what it writes, it accepts
    if os.name == "posix":
        assert (_mode(made.parent), _mode(made)) == (0o700, 0o600)


@posix_only
def test_a_keys_file_others_can_read_is_used_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write_keys(tmp_path / "server-keys.json", GOOD)
    load_or_create_keys(path)
    assert "open to other users" not in caplog.text
    path.chmod(0o644)
    load_or_create_keys(path)
    assert f"keys file {path} is open to other users of this computer (mode 644)" in caplog.text
    assert f"chmod 600 {path}" in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize("header", [None, "Bearer "])
async def test_an_empty_operator_key_opens_nothing(tmp_path: Path, header: str | None) -> None:
    """Defence in depth behind the keys file check: a server built with an empty key refuses every caller."""
    keys = Keys(sdkappid=1400000000, secret_key=SECRET_KEY, admin_key="")
    async with running_server(tmp_path / "server", keys=keys) as server:
        headers = {} if header is None else {"Authorization": header}
        async with server.http.get(server.url + "/im/v1/admin/instances", headers=headers) as resp:
            assert resp.status == 403
            assert (await resp.json())["code"] == 70403


@posix_only
@pytest.mark.sqlite_only
def test_an_existing_folder_or_database_open_to_others_gets_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "server"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "server.sqlite3").touch(mode=0o644)
    (folder / "server.sqlite3").chmod(0o644)
    asyncio.run(SqliteStore(folder / "server.sqlite3").close())
    assert f"folder {folder} is open to other users of this computer (mode 755)" in caplog.text
    assert f"database file {folder / 'server.sqlite3'} is open to other users" in caplog.text
    assert _mode(folder) == 0o755  # warned about, not changed behind the operator's back


def _damaged_databases(folder: Path) -> dict[str, bytes]:
    """A real database with content, then three ways it can be found broken."""
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "server.sqlite3", isolation_level=None) as db:
        migrate_sqlite(db, "test")  # the schema the store makes
        db.executemany(
            "INSERT INTO messages(channel_id, user_id, content, created_at) VALUES ('general', 'alice', ?, ?)",
            [("x" * 500, float(n)) for n in range(300)],
        )
    db.close()
    data = (folder / "server.sqlite3").read_bytes()
    assert len(data) > 32 * 4096
    middle = len(data) // 2 // 4096 * 4096
    return {
        "garbage": os.urandom(len(data)),
        "truncated": data[: len(data) // 2],
        "a page overwritten": data[:middle] + b"\xa5" * 4096 + data[middle + 4096 :],
    }


@pytest.mark.sqlite_only
def test_a_damaged_database_stops_the_store_naming_the_file(tmp_path: Path) -> None:
    for name, content in _damaged_databases(tmp_path / "built").items():
        path = tmp_path / name.replace(" ", "-") / "server.sqlite3"
        path.parent.mkdir()
        path.write_bytes(content)
        with pytest.raises(StartupError) as raised:
            SqliteStore(path)
        message = str(raised.value)
        assert message.startswith(f"The database {path} is damaged (") and "\n" not in message, name


async def _run(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *SERVER, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, umask=0o022
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:  # it started serving: it must not outlive the test
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_the_server_exits_with_one_sentence_on_a_damaged_database(tmp_path: Path) -> None:
    for name, content in _damaged_databases(tmp_path / "built").items():
        data_dir = tmp_path / name.replace(" ", "-")
        _write_keys(data_dir / "server-keys.json", GOOD)
        (data_dir / "server.sqlite3").write_bytes(content)
        rc, out, err = await _run("--port", "0", "--data-dir", str(data_dir), "--print-url", timeout=20)
        assert (rc, out) == (1, ""), (name, err)
        assert err.startswith(f"im-desktop-server: The database {data_dir / 'server.sqlite3'} is damaged ("), err
        assert err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.slow
@pytest.mark.asyncio
@posix_only
@pytest.mark.sqlite_only
async def test_the_server_keeps_its_folder_and_every_file_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "--port", "0", "--data-dir", str(data_dir), "--sandbox", "--print-url", "--log-level", "WARNING",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, umask=0o022,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        async with aiohttp.ClientSession() as http:  # write something, so that the WAL has content
            async with http.post(f"{url}/im/v1/demo/usersig", json={"user_id": "alice"}) as resp:
                sig = (await resp.json())["user_sig"]
            body = {"user_id": "alice", "user_sig": sig, "platform": "Linux", "device_id": "d1"}
            async with http.post(f"{url}/im/v1/login", json=body) as resp:
                assert resp.status == 200
        names = sorted(p.name for p in data_dir.iterdir())
        assert names == ["server-keys.json", "server.lock", "server.sqlite3", "server.sqlite3-shm",
                         "server.sqlite3-wal"]  # fmt: skip
        assert _mode(data_dir) == 0o700
        assert {name: _mode(data_dir / name) for name in names} == dict.fromkeys(names, 0o600)
    finally:
        proc.kill()
        _, err = await proc.communicate()
    assert b"open to other users" not in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--session-retention-days", "0"), ("--event-retention-days", "nan"), ("--event-retention-max", "-1")],
)
def test_retention_options_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert cli.main([option, value, "--data-dir", str(tmp_path / "server")]) == 2
    assert capsys.readouterr().err.startswith(f"{option} must be a positive number")
    assert not (tmp_path / "server").exists()  # refused before anything was created
