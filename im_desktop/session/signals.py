"""What the SessionController reports: its signals, in one place, apart from how it decides them."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

__all__ = ["SessionSignals"]


class SessionSignals(QObject):
    """The signals of SessionController (which is this class plus its behaviour).

    Signals:
        login_status_changed(int): SdkLoginStatus, LOGINED / LOGINING / LOGOUT.
        status_changed(int): Satori LoginStatus of `login` (OFFLINE, ONLINE, CONNECT, DISCONNECT, RECONNECT).
        connecting(): a connection attempt starts.
        connect_success(): READY arrived; ONLINE.
        connect_failed(int, str): an attempt failed (code, message); a retry may follow.
        reconnect_scheduled(float): seconds until the next attempt.
        kicked_offline(object): dict with reason, code, message, by {platform, device_name}, at (ms).
        user_sig_expired(): the ticket ran out and could not be renewed here; a new one is needed.
        login_failed(int, str): `login()` failed with this code and message.
        login_added(object), login_removed(object), login_updated(object): Satori Login events.
        message_received(str, object): channel id and the Satori message (also for our own sends).
        conversations_changed(): the cached conversation list changed (resync, new channel).
        outbox_changed(int): how many messages wait to be sent.
        send_failed(str, str, int, str): channel id, outbox nonce, code, message for a message the server
            refused; it stays in the outbox, marked failed, until `retry_message` or `delete_message`.
        credential_store_unavailable(str): the keyring could not be used; nothing was lost.
    """

    login_status_changed = Signal(int)
    status_changed = Signal(int)
    connecting = Signal()
    connect_success = Signal()
    connect_failed = Signal(int, str)
    reconnect_scheduled = Signal(float)
    kicked_offline = Signal(object)
    user_sig_expired = Signal()
    login_failed = Signal(int, str)
    login_added = Signal(object)
    login_removed = Signal(object)
    login_updated = Signal(object)
    message_received = Signal(str, object)
    conversations_changed = Signal()
    outbox_changed = Signal(int)
    send_failed = Signal(str, str, int, str)
    credential_store_unavailable = Signal(str)

