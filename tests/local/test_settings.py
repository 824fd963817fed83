"""Settings: defaults, round trip, a damaged file kept aside, and no secret fields at all."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import fields, replace
from pathlib import Path

import pytest

from im_desktop.local.address_rules import DIRECT, SYSTEM_PROXY
from im_desktop.local.settings import SANDBOX, AppPaths, ServerProfileSettings, Settings, load_settings, save_settings


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


def test_a_file_from_before_the_settings_dialog_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    old = {"profiles": [{"name": "sandbox", "title": "Built-in sandbox", "kind": "sandbox", "base_url": "",
                         "ticket_url": ""},
                        {"name": "work", "title": "Work", "kind": "im", "base_url": "https://im.example.test",
                         "ticket_url": ""}],
           "current_profile": "work", "last_user": "alice", "remember": True, "device_id": "d" * 32,
           "schema_version": 1}  # fmt: skip
    path.write_text(json.dumps(old))
    settings = load_settings(path)
    assert (settings.current_profile, settings.last_user, settings.device_id) == ("work", "alice", "d" * 32)
    assert (settings.start_at_login, settings.start_hidden, settings.notifications) == (False, False, True)
    assert (settings.language, settings.theme) == ("system", "system")
    assert settings.profile("work").proxy == ""
    assert not (tmp_path / "settings.damaged.json").exists()


def test_the_dialogs_choices_and_a_profiles_proxy_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    work = ServerProfileSettings("work", "Work", "im", "https://im.example.test", proxy="socks5://127.0.0.1:1080")
    saved = replace(Settings().with_profile(work), start_at_login=True, start_hidden=True, notifications=False,
                    language="zh_CN", theme="dark")  # fmt: skip
    save_settings(path, saved)
    assert load_settings(path) == saved


def test_hand_edited_nonsense_gets_the_defaults_not_a_guess(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    doc = {"profiles": [{"name": "work", "title": "Work", "kind": "im", "base_url": "https://im.example.test",
                         "proxy": "http://alice:secret@proxy.example.test:3128"},
                        {"name": "home", "title": "Home", "kind": "im", "base_url": "https://im.example.test",
                         "proxy": 3128}],
           "start_at_login": "yes", "start_hidden": 1, "notifications": "off", "language": "fr",
           "theme": ["dark"]}  # fmt: skip
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        settings = load_settings(path)
    assert (settings.start_at_login, settings.start_hidden) == (False, False)
    assert (settings.language, settings.theme) == ("system", "system")
    assert settings.profile("work").proxy == "" and settings.profile("home").proxy == ""
    assert "secret" not in caplog.text  # the refused setting is not repeated into the log
    assert settings.profile("work").base_url == "https://im.example.test"  # the rest of the profile is kept


def test_the_sandbox_is_always_reached_directly_other_servers_through_their_proxy() -> None:
    assert ServerProfileSettings(SANDBOX, "Built-in sandbox", SANDBOX, proxy="http://127.0.0.1:3128").route == DIRECT
    assert ServerProfileSettings("work", "Work", "im", "https://x.test").route == SYSTEM_PROXY
    assert ServerProfileSettings("w", "W", "satori", "https://x.test", proxy="socks5://h:1").route == "socks5://h:1"


def test_a_profiles_transport_security_choices_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    work = ServerProfileSettings("work", "Work", "im", "http://im.example.test:5140", allow_insecure=True,
                                 ca_file="/etc/company/ca.pem")  # fmt: skip
    save_settings(path, Settings().with_profile(work))
    loaded = load_settings(path).profile("work")
    assert loaded == work and loaded.unencrypted
    from im_desktop.session.types import ServerProfile

    profile = ServerProfile.of(loaded, loaded.base_url)
    assert (profile.allow_insecure, profile.ca_file, profile.proxy) == (True, "/etc/company/ca.pem", SYSTEM_PROXY)


def test_only_an_explicit_true_opts_in_to_clear_text(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    old = {"name": "old", "title": "Old", "kind": "im", "base_url": "http://im.example.test"}  # before the fields
    odd = {**old, "name": "odd", "allow_insecure": "yes", "ca_file": ["/etc/ca.pem"]}
    huge = {**old, "name": "huge", "allow_insecure": 1, "ca_file": "x" * 5000}
    path.write_text(json.dumps({"profiles": [old, odd, huge]}))
    settings = load_settings(path)
    for name in ("old", "odd", "huge"):
        profile = settings.profile(name)
        assert (profile.allow_insecure, profile.ca_file) == (False, "")
        assert not profile.unencrypted  # refused rather than sent in clear text: see tests/protocol/test_tls.py
    assert not (tmp_path / "settings.damaged.json").exists()


def test_unencrypted_means_plain_http_to_another_computer_by_the_users_choice() -> None:
    def p(url: str, ticket: str = "", allow: bool = True) -> ServerProfileSettings:
        return ServerProfileSettings("w", "W", "im", url, ticket, allow_insecure=allow)

    assert p("http://chat.example.test").unencrypted
    assert p("https://chat.example.test", "http://tickets.example.test/sig").unencrypted
    assert not p("http://chat.example.test", allow=False).unencrypted  # refused, so never unencrypted
    assert not p("http://127.0.0.1:5140").unencrypted and not p("https://chat.example.test").unencrypted
    assert not Settings().profile(SANDBOX).unencrypted
