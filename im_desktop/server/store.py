"""The store seam: what the server keeps durably, behind one async interface (SQLite or PostgreSQL)."""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from im_desktop.protocol.models import Platform
from im_desktop.server.config import ServerConfig, StartupError

__all__ = [
    "LOBBY_CHANNEL",
    "LOBBY_GUILD",
    "POLICY_SETTING",
    "ChannelRow",
    "Decide",
    "Ending",
    "LoginState",
    "MessageRow",
    "Posted",
    "SessionRow",
    "Store",
    "StreamStart",
    "hash_token",
    "open_store",
    "redact_url",
]

LOBBY_GUILD = "lobby"
LOBBY_CHANNEL = "general"
POLICY_SETTING = "login_policy"  # the multi-client login policy, read inside every login's transaction


def hash_token(token: str) -> str:
    """Session tokens are stored only as hashes, so a copied database logs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One login instance (a device or browser tab of one user)."""

    id: str
    user_id: str
    platform: Platform
    device_id: str
    device_name: str
    created_at: float
    sig_expires_at: int
    state: str  # active | kicked | expired | logged_out
    ended: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> SessionRow:
        """From a row of either store (sqlite3.Row and asyncpg's Record are both indexed by column name)."""
        ended = json.loads(row["ended_json"]) if row["ended_json"] else None
        return cls(
            row["id"], row["user_id"], Platform(row["platform"]), row["device_id"], row["device_name"],
            row["created_at"], row["sig_expires_at"], row["state"], ended,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MessageRow:
    seq: int
    channel_id: str
    user_id: str
    content: str
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> MessageRow:
        return cls(row["seq"], row["channel_id"], row["user_id"], row["content"], row["created_at"])

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": str(self.seq),
            "content": self.content,
            "user": {"id": self.user_id, "name": self.user_id},
            "channel": {"id": self.channel_id},
            "created_at": int(self.created_at * 1000),
        }


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: str
    type: int  # 0 a guild's text channel, 1 a direct channel
    name: str | None
    guild_id: str | None  # guild channels are open to every user; direct ones to their two members

    @classmethod
    def from_row(cls, row: Any) -> ChannelRow:
        return cls(row["id"], row["type"], row["name"], row["guild_id"])


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a login decides on, read under the user's lock in the login's own transaction."""

    live: list[SessionRow]  # the user's active sessions, oldest first (their tickets may have run out)
    sig_not_before: int  # tickets issued before this were invalidated by an operator kick
    policy: str | None  # the saved POLICY_SETTING (JSON), None for the default


@dataclass(frozen=True, slots=True)
class Ending:
    """A session to end, and how: state kicked | expired | logged_out, `ended` its explanation for the client."""

    session: SessionRow
    state: str
    ended: dict[str, Any]


# Called inside the login's transaction with the user locked: returns the sessions the new one ends, or raises
# (an ImError) to refuse the login, which then leaves no trace. It must not wait for anything.
Decide = Callable[[LoginState], list[Ending]]


@dataclass(frozen=True, slots=True)
class Posted:
    """A message.create's result: sn None means the nonce was already used, and `message` is the first one."""

    message: MessageRow
    sn: int | None
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamStart:
    """What a new event-stream connection starts from, read after it was attached (see EventStream)."""

    state: str | None  # the session's state now (None: deleted meanwhile)
    newest: int  # the newest `sn` in the log (0 if none)
    oldest: int | None  # the oldest `sn` still in the log


class Store(abc.ABC):
    """All durable state. Every change that must be exact across server processes is ONE call here, done in
    one transaction: a login's decision with its new session and the sessions it ends (open_session), an
    operator kick (kick_user), a message with its event (post_message)."""

    # Failures of the storage itself (a full disk, a lost connection) as this store raises them: the server's
    # loops log these in one line and carry on.
    errors: tuple[type[BaseException], ...] = ()

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- settings and users ---------------------------------------------------------------------
    @abc.abstractmethod
    async def get_setting(self, name: str) -> str | None: ...

    @abc.abstractmethod
    async def set_setting(self, name: str, value: str) -> None: ...

    @abc.abstractmethod
    async def user_exists(self, user_id: str) -> bool: ...

    @abc.abstractmethod
    async def sig_not_before(self, user_id: str) -> int: ...

    @abc.abstractmethod
    async def list_users(self, after: str, limit: int) -> list[str]:
        """UserIDs after `after` in order, at most `limit`."""

    # -- sessions -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open_session(self, session: SessionRow, token: str, decide: Decide) -> list[Ending]:
        """Sign the user up if new, lock it, read its LoginState, call `decide`, then store the new session and
        end those that `decide` chose, all in one transaction: two logins of one user, on one server process or
        on several sharing the database, are decided one after the other. Returns the sessions it ended."""

    @abc.abstractmethod
    async def kick_user(self, user_id: str, not_before: int, ended: dict[str, Any]) -> list[SessionRow] | None:
        """In one transaction: invalidate the user's tickets issued before `not_before` and end every active
        session as kicked. Returns those sessions as they are now, or None if the user does not exist."""

    @abc.abstractmethod
    async def session_by_token(self, token: str) -> SessionRow | None: ...

    @abc.abstractmethod
    async def session_by_id(self, session_id: str) -> SessionRow | None: ...

    @abc.abstractmethod
    async def active_sessions(self, user_id: str | None = None) -> list[SessionRow]:
        """Active sessions, oldest first: one user's, or everybody's."""

    @abc.abstractmethod
    async def end_session(self, session_id: str, state: str, ended: dict[str, Any] | None) -> bool:
        """End an active session; False if it was not active (ended meanwhile, by another request or node)."""

    @abc.abstractmethod
    async def renew_session(self, session_id: str, sig_expires_at: int) -> None: ...

    # -- channels -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def channel(self, channel_id: str) -> ChannelRow | None: ...

    @abc.abstractmethod
    async def channel_members(self, channel_id: str) -> list[str]: ...

    @abc.abstractmethod
    async def can_read(self, user_id: str, channel: ChannelRow) -> bool: ...

    @abc.abstractmethod
    async def guild_channels(self, guild_id: str) -> list[ChannelRow]: ...

    @abc.abstractmethod
    async def ensure_direct_channel(self, a: str, b: str) -> str:
        """The direct channel of two users (made with its two members if new); returns its id."""

    # -- messages and the event log -------------------------------------------------------------
    @abc.abstractmethod
    async def find_by_nonce(self, user_id: str, nonce: str) -> MessageRow | None: ...

    @abc.abstractmethod
    async def post_message(
        self, channel: ChannelRow, user_id: str, content: str, now: float, nonce: str | None,
        make_event: Callable[[MessageRow, ChannelRow], dict[str, Any]],
    ) -> Posted:  # fmt: skip
        """Store a message and its event in one transaction. The database enforces one message per (user,
        nonce): a send racing a retry of itself returns the first message (sn None). Events take their `sn` in
        the order they commit, so that every `sn` up to max_sn() is final when max_sn() reads it."""

    @abc.abstractmethod
    async def add_events(self, channel_id: str, bodies: Sequence[dict[str, Any]]) -> int:
        """Append events without messages (tests and tools); returns the last `sn`."""

    @abc.abstractmethod
    async def max_sn(self) -> int: ...

    @abc.abstractmethod
    async def oldest_sn(self) -> int | None:
        """The oldest `sn` still in the event log (retention prunes older ones), None if the log is empty."""

    @abc.abstractmethod
    async def stream_start(self, session_id: str) -> StreamStart: ...

    @abc.abstractmethod
    async def events_after(self, sn: int, user_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` events after `sn` that `user_id` may see, in `sn` order."""

    @abc.abstractmethod
    async def messages_page(self, channel_id: str, anchor: int | None, direction: str, limit: int) -> list[MessageRow]:
        """Messages oldest first: `limit` before or after `anchor` (exclusive), or the newest ones."""

    @abc.abstractmethod
    async def message(self, channel_id: str, seq: int) -> MessageRow | None: ...

    # -- retention ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def prune_sessions(self, after: int, ended_before: float, batch: int) -> tuple[int, int]:
        """Look at up to `batch` sessions past position `after`; delete those that ended before `ended_before`
        or whose ticket ran out before it. Returns (the last position looked at, 0 when none were left; rows
        deleted)."""

    @abc.abstractmethod
    async def prune_events(self, older_than_ms: int, keep_newest: int, batch: int) -> int:
        """Delete up to `batch` of the oldest events: those dated before `older_than_ms` or beyond the newest
        `keep_newest`; return how many. The newest event always stays, so that max_sn() and oldest_sn() still
        tell how far the log reaches: a resume from before oldest_sn() is known to have missed events."""


def prune_cut(rows: Sequence[tuple[int, Any]], newest: int, keep_newest: int, older_than_ms: int) -> int:
    """The last `sn` of the oldest-first (sn, timestamp) `rows` that prune_events may delete; 0 for none."""
    beyond_count = newest - max(keep_newest, 1)
    last = 0
    for sn, timestamp in rows:
        dated = isinstance(timestamp, int | float)  # an event without a date counts as old
        if sn > beyond_count and dated and timestamp >= older_than_ms:
            break  # the log is in time order: every later event is as young
        last = sn
    return last


def redact_url(url: str) -> str:
    """A database URL fit for a log line or an error message: without its password."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


async def open_store(config: ServerConfig) -> Store:
    """The store the configuration names: PostgreSQL for a `database` URL, else SQLite in the data folder.
    Opening migrates the schema to this version; a store that cannot be used raises StartupError."""
    if config.database:
        # Imported only when asked for: asyncpg is an optional extra, and the sandbox server starts faster.
        try:
            from im_desktop.server.store_pg import PostgresStore
        except ImportError as exc:
            raise StartupError(f"A PostgreSQL database needs the asyncpg package ({exc}); install it, e.g. "
                               "pip install 'im-desktop[server-scale]'.") from None  # fmt: skip
        return await PostgresStore.open(config.database, config.database_pool)
    from im_desktop.server.store_sqlite import SqliteStore

    return SqliteStore(config.data_dir / "server.sqlite3")
