"""What the controller's parts may read of the session it runs: a read-only view, not the controller itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from im_desktop.local.cache import LocalCache
    from im_desktop.protocol.client import Credentials, ProtocolClient
    from im_desktop.session.supervisor import TaskSupervisor
    from im_desktop.session.types import Timing

__all__ = ["LiveSession"]


class LiveSession(Protocol):
    """The link, the task supervisor and the delays, who is logged in with which credentials, and that user's
    cache. Only the controller changes these (login, logout, relogin); its parts read them at the moment they
    act, and report back through their own signals or the few callables they are given."""

    @property
    def client(self) -> ProtocolClient: ...

    @property
    def tasks(self) -> TaskSupervisor: ...

    @property
    def timing(self) -> Timing: ...

    @property
    def creds(self) -> Credentials | None: ...

    @property
    def cache(self) -> LocalCache | None: ...

    @property
    def login_user(self) -> str:
        """getLoginUser: the UserID while logged in, else empty."""
        ...

    @property
    def online(self) -> bool:
        """Whether the event stream is up (Satori ONLINE)."""
        ...
