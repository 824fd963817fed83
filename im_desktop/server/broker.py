"""The broker seam: how stored events, ended sessions and presence reach other server processes (none by default)."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from im_desktop.server.config import ServerConfig, StartupError
from im_desktop.server.hub import Connection, Hub
from im_desktop.server.lockout import SharedCounts
from im_desktop.server.store import SessionRow, Store, redact_url

if TYPE_CHECKING:
    from im_desktop.server.broker_redis import RedisBroker

__all__ = ["BROKER_SCHEMES", "Broker", "LocalBroker", "NodeHooks", "open_broker"]

BROKER_SCHEMES = ("redis://", "rediss://", "unix://")


class NodeHooks(Protocol):
    """What a broker asks of this node's SessionService when another node tells it something. Each call returns at
    once (the service runs the work as a task of its own)."""

    def ended_elsewhere(self, session_id: str) -> None:
        """Another node ended this session: close its socket here, if it has one, as a local end would."""

    def login_changed_elsewhere(self, kind: str, session_id: str) -> None:
        """A session was opened (kind "added") or renewed ("updated") on another node."""

    def reconcile(self) -> None:
        """Messages may have been lost: re-read what the sockets here depend on (ended or renewed sessions)."""


class Broker(abc.ABC):
    """The one way news leaves this process. The store stays the one source of truth: a broker only says that
    something changed, and whoever hears it reads the store."""

    kind: str = ""
    shared: bool = False  # True: other server processes hear what this one says (a cluster)
    # Failures of the broker itself (a lost connection) as it raises them; its methods here catch their own.
    errors: tuple[type[BaseException], ...] = ()

    @abc.abstractmethod
    def bind(self, hub: Hub, store: Store, hooks: NodeHooks, config: ServerConfig) -> None:
        """Wire it to this node (create_app calls it once, before serving)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start its background work (on the serving loop)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop listening (the server is shutting down); what this node still says goes out until close()."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Say the last things (sessions going offline), then let go of every connection."""

    @abc.abstractmethod
    def deliver(self, sn: int, body: dict[str, Any], users: Collection[str] | None) -> None:
        """An event was stored with this `sn` for these users (None: every user). Never waits."""

    @abc.abstractmethod
    async def ready(self, conn: Connection) -> bool:
        """Called between attaching a connection and reading where its stream starts: True when everything
        stored for its user from here on will reach this node."""

    @abc.abstractmethod
    def planned(self, conn: Connection, ready: bool) -> None:
        """The connection's replay is planned (conn.pushed is set); `ready` is what ready() answered."""

    @abc.abstractmethod
    def session_ended(self, session: SessionRow) -> None:
        """A session's end is recorded (and its socket here, if any, closed): tell the other nodes."""

    @abc.abstractmethod
    def login_changed(self, kind: str, session: SessionRow) -> None:
        """A session was opened ("added") or renewed ("updated") here: tell the other nodes."""

    @abc.abstractmethod
    async def online(self, session_ids: Sequence[str]) -> set[str]:
        """Which of these sessions have a live socket, on any node."""

    @abc.abstractmethod
    def lockout_counts(self) -> SharedCounts | None:
        """Lock-out counts shared by every node, or None to count in this process."""

    @abc.abstractmethod
    async def health(self) -> dict[str, Any]:
        """For a health check: {"kind": ..., "ok": bool, ...} (a broker that cannot be reached says ok False)."""


class LocalBroker(Broker):
    """The default: one server process, so news only goes to its own sockets, at once."""

    kind = "in-process"

    def __init__(self) -> None:
        self._hub = Hub()

    def bind(self, hub: Hub, store: Store, hooks: NodeHooks, config: ServerConfig) -> None:
        self._hub = hub

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ready(self, conn: Connection) -> bool:
        return True  # every event is published to this process's own sockets

    def planned(self, conn: Connection, ready: bool) -> None:
        pass

    def session_ended(self, session: SessionRow) -> None:
        pass  # its socket, if any, is here: closed already

    def login_changed(self, kind: str, session: SessionRow) -> None:
        pass

    def lockout_counts(self) -> SharedCounts | None:
        return None

    def deliver(self, sn: int, body: dict[str, Any], users: Collection[str] | None) -> None:
        hub = self._hub
        # A direct message has two readers: their connections, not a scan of every connection on the node.
        hub.publish(hub.all() if users is None else [c for user in users for c in hub.of_user(user)], sn, body)

    async def online(self, session_ids: Sequence[str]) -> set[str]:
        return {s for s in session_ids if self._hub.is_online(s)}

    async def health(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": True}


async def open_broker(config: ServerConfig) -> Broker:
    """The broker the configuration names: Redis for a `broker` URL, else in-process. A broker that cannot be
    reached at start raises StartupError."""
    if not config.broker:
        return LocalBroker()
    if not config.broker.startswith(BROKER_SCHEMES):
        raise StartupError(f"The broker {redact_url(config.broker)} is not a redis://, rediss:// or unix:// URL.")
    # Imported only when asked for: redis is an optional extra, and the sandbox server starts faster without it.
    try:
        from im_desktop.server.broker_redis import RedisBroker
    except ImportError as exc:
        raise StartupError(f"A Redis broker needs the redis package ({exc}); install it, e.g. "
                           "pip install 'im-desktop[server-scale]'.") from None  # fmt: skip
    broker: RedisBroker = await RedisBroker.open(config.broker)
    return broker
