"""Settings: defaults, round trip, a damaged file kept aside, and no secret fields at all."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import fields
from pathlib import Path

import pytest

from im_desktop.settings import SANDBOX, AppPaths, ServerProfileSettings, Settings, load_settings, save_settings


def test_defaults_offer_the_sandbox(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "settings.json")
    assert settings.profile().kind == SANDBOX
    assert settings.profile().sources == ("sandbox",)
    assert len(settings.device_id) == 32


def test_round_trip_keeps_profiles_and_the_device_id(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    work = ServerProfileSettings("work", "Work", "im", "https://im.example.test", "https://tickets.example.test/sig")
    saved = Settings().with_profile(work)
    save_settings(path, saved)
    loaded = load_settings(path)
    assert loaded.profile("work") == work
    assert loaded.profile("work").sources == ("password", "usersig")
    assert loaded.current_profile == "work" and loaded.device_id == saved.device_id
    assert loaded.profile(SANDBOX).kind == SANDBOX  # the sandbox is always offered


def test_a_damaged_file_is_kept_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    settings = load_settings(path)
    assert settings.current_profile == SANDBOX
    assert (tmp_path / "settings.damaged.json").read_text() == "{not json"


def test_settings_have_no_place_for_a_secret(tmp_path: Path) -> None:
    names = {f.name for f in fields(Settings)} | {f.name for f in fields(ServerProfileSettings)}
    assert not names & {"password", "token", "user_sig", "ticket", "secret"}
    save_settings(tmp_path / "s.json", Settings(last_user="alice"))
    assert set(json.loads((tmp_path / "s.json").read_text())) == {f.name for f in fields(Settings)}


def test_portable_home_puts_everything_in_one_folder(tmp_path: Path) -> None:
    paths = AppPaths.resolve(str(tmp_path))
    assert {paths.config.parent, paths.data.parent, paths.cache.parent, paths.logs.parent} == {tmp_path}
    assert paths.settings_file == tmp_path / "config" / "settings.json"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX permission bits")
def test_the_settings_file_and_its_folder_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual one: the settings must not depend on a strict one
    try:
        path = tmp_path / "config" / "settings.json"
        save_settings(path, Settings(last_user="alice"))
        path.with_suffix(".tmp").write_text("left over by a crash")  # made 0644 by someone else
        save_settings(path, Settings(last_user="bob"))
    finally:
        os.umask(old_umask)
    assert (stat.S_IMODE(path.parent.stat().st_mode), stat.S_IMODE(path.stat().st_mode)) == (0o700, 0o600)
    assert load_settings(path).last_user == "bob"
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]
