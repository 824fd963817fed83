"""One instance per user: a private socket, a second launch raises the first, and "cannot listen" is told apart
from "already running"."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from im_desktop.ui.single_instance import Claim, SingleInstance, socket_name


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_the_socket_lives_in_the_users_private_runtime_folder(runtime: Path) -> None:
    name = socket_name(Path("/home/alice/.config/im-desktop"))
    assert Path(name).parent == runtime
    assert name != socket_name(Path("/somewhere/else"))  # per app home


def test_without_a_private_runtime_folder_a_private_one_is_made(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # a runtime folder others may write to is not used
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = Path(socket_name(Path("/home/alice"))).parent
    assert folder == tmp_path / f"im-desktop-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_second_launch_is_told_it_runs_and_the_first_is_asked_to_show_itself(qtbot: QtBot, runtime: Path,
                                                                               tmp_path: Path) -> None:  # fmt: skip
    first = SingleInstance(tmp_path / "config")
    assert first.claim() is Claim.FIRST
    assert stat.S_IMODE(os.stat(first.name).st_mode) & 0o077 == 0  # only this user may connect
    second = SingleInstance(tmp_path / "config")
    with qtbot.waitSignal(first.raise_requested, timeout=3000):
        assert second.claim() is Claim.RUNNING
    first.close()
    second.close()


def test_a_socket_left_by_a_crash_does_not_block_the_next_start(runtime: Path, tmp_path: Path) -> None:
    crashed = SingleInstance(tmp_path / "config")
    assert crashed.claim() is Claim.FIRST
    name = crashed.name
    crashed._server.close()  # what a crash leaves: the file, and nobody listening
    Path(name).touch()
    again = SingleInstance(tmp_path / "config")
    assert again.claim() is Claim.FIRST
    again.close()


def test_cannot_listen_is_not_mistaken_for_already_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"im-desktop-{os.getuid()}").write_text("someone else's file where our folder goes")
    instance = SingleInstance(tmp_path / "config")
    assert instance.claim() is Claim.UNAVAILABLE
    assert "not a folder only this user can use" in instance.problem
