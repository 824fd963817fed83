"""The operating system's word on the network (QNetworkInformation), as one plain signal: online or not."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QNetworkInformation

__all__ = ["NetworkWatch"]

log = logging.getLogger(__name__)

_Reach = QNetworkInformation.Reachability
# "Site" is a network without the internet (a captive portal, a LAN): a server there may still answer.
_ONLINE = {_Reach.Online, _Reach.Site}


class NetworkWatch(QObject):
    """Loads the platform's reachability backend (NetworkManager, GLib's monitor, Windows' and macOS' own)
    and reports changes. Without a backend it stays silent and the session's own checks carry on alone.

    Signals:
        online_changed(bool): the network went up (True) or down (False); sent on changes only.
    """

    online_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = ""
        self._online: bool | None = None

    def start(self) -> None:
        """Load a backend (a few tens of ms: after the first window is up) and listen to it."""
        if not QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            log.info("no network information backend here; reconnects rely on the session's own checks")
            return
        info = QNetworkInformation.instance()
        if info is None:
            return
        self.backend = info.backendName()
        self._online = info.reachability() in _ONLINE if info.reachability() != _Reach.Unknown else None
        info.reachabilityChanged.connect(self.on_reachability)
        log.info("network information from the %s backend", self.backend)

    def stop(self) -> None:
        """Stop listening: the backend is process-wide and outlives this watch."""
        info = QNetworkInformation.instance()
        if self.backend and info is not None:
            info.reachabilityChanged.disconnect(self.on_reachability)
        self.backend = ""

    @Slot(QNetworkInformation.Reachability)
    def on_reachability(self, reachability: QNetworkInformation.Reachability) -> None:
        if reachability == _Reach.Unknown:
            return
        online = reachability in _ONLINE
        if online != self._online:
            self._online = online
            self.online_changed.emit(online)
