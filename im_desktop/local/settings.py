"""Where the app keeps its files, and its settings file (server profiles, last user; never a secret)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from im_desktop.local.address_rules import DIRECT, SYSTEM_PROXY, check_proxy, plaintext_remote
from im_desktop.local.private_files import private_dir, replace_file

__all__ = ["LANGUAGES", "SANDBOX", "THEMES", "AppPaths", "ServerProfileSettings", "Settings", "SettingsFile",
           "load_settings", "save_settings"]  # fmt: skip

log = logging.getLogger(__name__)

APP = "im-desktop"
SCHEMA_VERSION = 1
SANDBOX = "sandbox"
LANGUAGES = ("system", "en", "zh_CN")  # "system": the desktop's language, when there is a translation for it
THEMES = ("system", "light", "dark")  # "system": the desktop's colour scheme, followed as it changes


@dataclass(frozen=True, slots=True)
class AppPaths:
    """The platform's directories, or one folder for everything when IM_DESKTOP_HOME is set (tests, portable)."""

    config: Path
    data: Path
    cache: Path
    logs: Path

    @classmethod
    def resolve(cls, home: str | None = None) -> AppPaths:
        home = home or os.environ.get("IM_DESKTOP_HOME")
        if home:
            root = Path(home)
            return cls(root / "config", root / "data", root / "cache", root / "logs")
        return cls(
            Path(platformdirs.user_config_dir(APP)),
            Path(platformdirs.user_data_dir(APP)),
            Path(platformdirs.user_cache_dir(APP)),
            Path(platformdirs.user_log_dir(APP)),
        )

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"


@dataclass(frozen=True, slots=True)
class ServerProfileSettings:
    """A server the user can log in to. `kind`: "sandbox" (built in), "im" (this project's server
    elsewhere), "satori" (a third-party Satori server with a static token)."""

    name: str
    title: str
    kind: str
    base_url: str = ""
    ticket_url: str = ""  # the business server that turns a password into a UserSig, for kind "im"
    proxy: str = SYSTEM_PROXY  # "": the system's proxies; or http://host:port, socks5://host:port (protocol.proxy)
    allow_insecure: bool = False  # plain http:// to another computer, chosen explicitly in the server dialog
    ca_file: str = ""  # a PEM file of CA certificates trusted for this server besides the system's

    @property
    def unencrypted(self) -> bool:
        """Whether this profile sends tickets, passwords or messages over a network in clear text."""
        return self.allow_insecure and (plaintext_remote(self.base_url) or plaintext_remote(self.ticket_url))

    @property
    def route(self) -> str:
        """The proxy setting to connect with: the built-in sandbox, on this computer, is always reached directly
        (a system proxy could not reach this computer's loopback)."""
        return DIRECT if self.kind == SANDBOX else self.proxy

    @property
    def sources(self) -> tuple[str, ...]:
        if self.kind == SANDBOX:
            return ("sandbox",)
        if self.kind == "satori":
            return ("token",)
        return ("password", "usersig") if self.ticket_url else ("usersig",)


def _default_profiles() -> list[ServerProfileSettings]:
    return [ServerProfileSettings(SANDBOX, "Built-in sandbox", SANDBOX)]


@dataclass(frozen=True, slots=True)
class Settings:
    profiles: list[ServerProfileSettings] = field(default_factory=_default_profiles)
    current_profile: str = SANDBOX
    last_user: str = ""
    remember: bool = True
    device_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    notifications: bool = True  # desktop notifications for messages you cannot see (a mention of you always)
    schema_version: int = SCHEMA_VERSION
    # The Settings dialog's other choices. Start hidden: in the tray only (never when there is no tray).
    start_at_login: bool = False
    start_hidden: bool = False
    language: str = "system"  # one of LANGUAGES; takes effect at the next start
    theme: str = "system"  # one of THEMES

    def profile(self, name: str | None = None) -> ServerProfileSettings:
        wanted = name or self.current_profile
        return next((p for p in self.profiles if p.name == wanted), self.profiles[0])

    def with_profile(self, profile: ServerProfileSettings) -> Settings:
        others = [p for p in self.profiles if p.name != profile.name]
        return replace(self, profiles=[*others, profile], current_profile=profile.name)


def _one_of(doc: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) and value in allowed else allowed[0]


_MAX_PATH_CHARS = 4096


def _profile(doc: dict[str, Any]) -> ServerProfileSettings:
    # Only an explicit true opts in to clear text (a hand edit's "yes" does not); a CA file path must be text.
    ca_file = doc.get("ca_file")
    doc = {**doc, "allow_insecure": doc.get("allow_insecure") is True,
           "ca_file": ca_file if isinstance(ca_file, str) and len(ca_file) <= _MAX_PATH_CHARS else ""}  # fmt: skip
    profile = ServerProfileSettings(**doc)
    try:
        return replace(profile, proxy=check_proxy(profile.proxy))
    except (ValueError, AttributeError):
        log.warning("server profile %r: its proxy setting is not one; using the system's proxies", profile.name)
        return replace(profile, proxy=SYSTEM_PROXY)


def load_settings(path: Path) -> Settings:
    """Read settings; a damaged file is kept aside (never deleted) and defaults are used."""
    if not path.exists():
        return Settings()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        profiles = [_profile(p) for p in doc.get("profiles", [])] or _default_profiles()
        if not any(p.kind == SANDBOX for p in profiles):
            profiles.insert(0, _default_profiles()[0])
        return Settings(
            profiles=profiles,
            current_profile=str(doc.get("current_profile") or SANDBOX),
            last_user=str(doc.get("last_user") or ""),
            remember=bool(doc.get("remember", True)),
            device_id=str(doc.get("device_id") or uuid.uuid4().hex),
            notifications=doc.get("notifications", True) is not False,
            # Files from before a field existed load with its default; a value of the wrong type or out of range
            # (a hand edit) gets the default too, never a guess.
            start_at_login=doc.get("start_at_login") is True,
            start_hidden=doc.get("start_hidden") is True,
            language=_one_of(doc, "language", LANGUAGES),
            theme=_one_of(doc, "theme", THEMES),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        aside = path.with_suffix(".damaged.json")
        path.replace(aside)
        log.warning("settings file was damaged (%s); kept as %s, using defaults", type(exc).__name__, aside)
        return Settings()


def save_settings(path: Path, settings: Settings) -> None:
    """Write atomically, so a crash mid-write leaves the old file intact; readable by this user only (it names
    the servers and the last user)."""
    private_dir(path.parent)
    doc: dict[str, Any] = asdict(settings)
    replace_file(path, json.dumps(doc, indent=2).encode("utf-8"))


class SettingsFile:
    """The settings in force and the file that keeps them. The app's parts read `current` when they need it and
    save a changed copy through `save`, so none of them holds a stale copy of its own."""

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.path = path
        self.current = settings if settings is not None else load_settings(path)

    def save(self, settings: Settings) -> None:
        self.current = settings
        save_settings(self.path, settings)
