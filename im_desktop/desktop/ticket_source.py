"""Which ticket provider a login request from the login window (or a ticket dialog) uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from im_desktop.local.settings import Settings
from im_desktop.ui.login_window import LoginRequest

if TYPE_CHECKING:
    from im_desktop.session.tickets import TicketProvider

__all__ = ["provider_for"]


def provider_for(request: LoginRequest, settings: Settings) -> TicketProvider:
    # Imported here: the session layer pulls in the network stack, which the first window does not wait for.
    from im_desktop.session.tickets import BusinessServerTickets, PastedTicket, SandboxTickets, StaticToken

    if request.source == "sandbox":
        return SandboxTickets()
    if request.source == "password":
        return BusinessServerTickets(settings.profile(request.profile).ticket_url, request.secret)
    if request.source == "token":
        return StaticToken(request.secret)
    return PastedTicket(request.secret)
