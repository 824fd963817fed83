"""The one owner of "the current session": the active profile's controller, and one signal when it changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from im_desktop.local.cache import LocalCache
    from im_desktop.session.controller import SessionController

__all__ = ["CurrentSession"]


class CurrentSession(QObject):
    """Which controller is the session now. The composition root replaces it when the person picks another
    server; every part that acts on the session asks here at the moment it acts (never keeping a copy), and
    follows `changed` to connect to the new controller's signals.

    Before the session layer is loaded (a remembered start), the cache opened for the first window stands in
    for the controller's; the first controller takes it over (`take_early_cache`).

    Signals:
        changed(object): the new SessionController.
    """

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller: SessionController | None = None
        self._early_cache: LocalCache | None = None

    @property
    def controller(self) -> SessionController | None:
        return self._controller

    @property
    def cache(self) -> LocalCache | None:
        """The cache the windows show: the controller's, or before there is a controller, the early one."""
        if self._controller is not None:
            return self._controller.cache
        return self._early_cache

    def show_early(self, cache: LocalCache) -> None:
        """A remembered start's cache, opened before the session layer is imported."""
        self._early_cache = cache

    def take_early_cache(self) -> LocalCache | None:
        """Hand the early cache to the controller being made; from then on it is the controller's."""
        early, self._early_cache = self._early_cache, None
        return early

    def replace(self, controller: SessionController) -> None:
        """The session is now `controller`'s (a first start, or another server): everyone following is told."""
        self._controller = controller
        self.changed.emit(controller)
