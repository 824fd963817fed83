"""Error codes and session states as sentences a person understands, always with the code."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from im_desktop.protocol.errors import detail_of
from im_desktop.ui.plain import LONG, SHORT, isolate, shown

__all__ = ["describe_error", "describe_kick", "valid_ms"]

_CONTEXT = "messages"


def _mark(text: str) -> str:
    """Marks a string for translation where it is defined; it is translated where it is shown."""
    return text


_SENTENCES: dict[int, str] = {
    6014: _mark("You are not logged in any more. Please log in again."),
    6206: _mark("Your login ticket has expired. Get a new one and log in again."),
    6208: _mark("This account was logged in somewhere else."),
    6022: _mark("This computer could not read or write the app's files. Is the disk full?"),
    6023: _mark("The server's reply could not be understood. Is the address right?"),
    7003: _mark("A UserID may only use letters, digits, '_' and '-', at most 32 of them."),
    7501: _mark("A login is already in progress. Please wait a moment."),
    9508: _mark("The server cannot be reached. Check your network; the app keeps trying."),
    9520: _mark("The server did not answer in time. The app keeps trying."),
    70001: _mark("Your login ticket has expired. Get a new one and log in again."),
    70002: _mark("The login ticket is empty. Paste a UserSig or choose another ticket source."),
    70003: _mark("The login ticket could not be read. Was it copied completely?"),
    70009: _mark("The login ticket was not made for this server. Check the server and the ticket."),
    70013: _mark("The login ticket belongs to another UserID."),
    70014: _mark("The login ticket was made for another app (SDKAppID)."),
    70050: _mark("Too many failed logins. Check your ticket and try again in a minute."),
    70052: _mark("Your login ticket was withdrawn. Get a new one and log in again."),
    70107: _mark("There is no such account."),
    70402: _mark("The server did not accept the request."),
    70500: _mark("The server had a problem. Please try again later."),
    90401: _mark("The server refused the credentials. Check the token or password."),
    90404: _mark("The server does not offer this."),
    90500: _mark("Something unexpected went wrong. The details are in the log."),
}

# Errors about one server or file, which the sentence names: {detail} is the address (or the file and why),
# made on this computer by ImError.with_detail, never words from the server.
_DETAILED: dict[int, str] = {
    90601: _mark(
        "The security certificate of {detail} has expired or is not valid yet. Check this computer's date "
        "and time; if they are right, the server's operator must renew the certificate."
    ),
    90602: _mark(
        "The security certificate of {detail} was made for another name. Check the address; someone may "
        "be intercepting the connection."
    ),
    90603: _mark(
        "The security certificate of {detail} is self-signed or from an issuer this computer does not "
        "trust. If your organisation has its own certificate authority, add the server again with its CA "
        "certificate file."
    ),
    90604: _mark("The server's security certificate was refused ({detail})."),
    90605: _mark(
        "An unencrypted connection to {detail} was refused: passwords and tickets would cross the network "
        "in clear text. Use an https:// address, or allow an unencrypted connection for this server."
    ),
    90606: _mark("The CA certificate file of this server cannot be used: {detail}."),
}

_KICK_REASONS = {
    "multi_device": _mark("Your account was logged in on another device."),
    "multi_instance": _mark("Your account was logged in on another {platform} instance."),
    "admin": _mark("An administrator ended your sessions."),
}


def _tr(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def valid_ms(value: object) -> bool:
    """Whether a time from a server, in ms since the epoch, is one Qt can show (an int, not absurd)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**47


def describe_error(code: int, server_message: str = "") -> str:
    """A sentence for a code, ending with the code itself so support can look it up. A server's own words
    are used only for codes we have no sentence for, and then as plain, bounded, bidi-isolated text."""
    sentence = _SENTENCES.get(code)
    detailed = _DETAILED.get(code)
    if detailed is not None:
        detail = isolate(shown(detail_of(code, server_message), LONG)) or _tr(_mark("the server"))
        text = _tr(detailed).format(detail=detail)
    elif sentence is not None:
        text = _tr(sentence)
    else:
        text = isolate(shown(server_message, LONG)) or _tr(_mark("Something went wrong."))
    return f"{text} ({_tr('code')} {code})" if code else text


def describe_kick(info: dict[str, object]) -> str:
    """Why, by which platform and device; the time is shown by the caller in the user's locale."""
    reason = str(info.get("reason") or "")
    raw_by = info.get("by")
    by: dict[str, object] | None = raw_by if isinstance(raw_by, dict) else None
    platform = shown(by.get("platform"), SHORT) if by else ""
    sentence = _tr(_KICK_REASONS.get(reason, _mark("Your session was ended by the server.")))
    if "{platform}" in sentence:
        sentence = sentence.format(platform=isolate(platform) or _tr("this"))
    device = shown(by.get("device_name"), SHORT) if by else ""
    if device:
        device_line = _tr("Device: {device} ({platform}).")
        sentence += " " + device_line.format(device=isolate(device), platform=isolate(platform))
    return sentence
