"""Settings: defaults, round trip, a damaged file kept aside, and no secret fields at all."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

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
