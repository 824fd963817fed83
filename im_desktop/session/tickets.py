"""Where login tickets come from: a pasted UserSig, the app's business server, or the sandbox."""

from __future__ import annotations

from typing import Protocol

from im_desktop.protocol.client import ProtocolClient
from im_desktop.protocol.errors import ErrorCode, ImError

__all__ = ["BusinessServerTickets", "PastedTicket", "SandboxTickets", "StaticToken", "TicketProvider"]


class TicketProvider(Protocol):
    """Gives a UserSig for a UserID. `can_renew` says whether asking again yields a fresh one; `kind` is the
    source as the login window names it (sandbox, password, usersig, token), so the app knows what to ask for."""

    @property
    def can_renew(self) -> bool: ...

    @property
    def kind(self) -> str: ...

    async def ticket(self, client: ProtocolClient, user_id: str) -> str: ...


class PastedTicket:
    """A UserSig the user pasted (or one remembered in the keyring); it cannot renew itself."""

    can_renew = False
    kind = "usersig"

    def __init__(self, user_sig: str) -> None:
        self._user_sig = user_sig

    def __repr__(self) -> str:
        return "PastedTicket(<hidden>)"

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        return self._user_sig


class SandboxTickets:
    """The built-in sandbox's demo endpoint: a fresh ticket for any UserID, no password."""

    can_renew = True
    kind = "sandbox"

    def __init__(self, path: str = "/im/v1/demo/usersig") -> None:
        self._path = path

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        return await client.demo_usersig(self._path, user_id)


class BusinessServerTickets:
    """The app's own business server: `POST url {"user_id", "password"}` answers `{"user_sig"}`.

    The password stays in memory for this run only, so renewals need no prompt; it is never stored.
    """

    can_renew = True
    kind = "password"

    def __init__(self, url: str, password: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ImError(ErrorCode.INVALID_PARAMETERS, "The ticket server address must start with http(s)://.")
        self._url = url
        self._password = password

    def __repr__(self) -> str:
        return f"BusinessServerTickets({self._url!r}, <hidden>)"

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        return await client.fetch_ticket(self._url, user_id, self._password)


class StaticToken:
    """A third-party Satori server's static token (it stands where a ticket would)."""

    can_renew = False
    kind = "token"

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"

    async def ticket(self, client: ProtocolClient, user_id: str) -> str:
        return self._token
