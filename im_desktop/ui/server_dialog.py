"""The "Other server…" dialog: this project's server elsewhere, or any Satori server."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from im_desktop.protocol.proxy import check_proxy
from im_desktop.ui.plain import plain_label
from im_desktop.ui.theme import mark_error

__all__ = ["ServerChoice", "ServerDialog", "profile_title"]


def profile_title(kind: str, title: str) -> str:
    """A server profile's title as shown: the built-in sandbox's in the person's language, others as saved."""
    return QCoreApplication.translate("ServerDialog", "Built-in sandbox") if kind == "sandbox" else title


@dataclass(frozen=True, slots=True)
class ServerChoice:
    """What the user entered; `kind` is "im" (this project's server) or "satori" (third-party)."""

    title: str
    kind: str
    base_url: str
    ticket_url: str = ""
    proxy: str = ""  # "": the system's proxies; http://host:port or socks5://host:port


def _url_problem(url: str, required: bool) -> str:
    if not url:
        return "required" if required else ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must look like http://host:port or https://host"
    return ""


def _buddy(text: str, widget: QWidget) -> QLabel:
    label = plain_label(text)
    label.setBuddy(widget)
    return label


class ServerDialog(QDialog):
    """Window-modal; read `choice()` after it is accepted (used with await_dialog, never exec())."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Other server"))
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.title_edit = QLineEdit()
        self.title_edit.setAccessibleName(self.tr("Name"))
        self.kind_box = QComboBox()
        self.kind_box.setAccessibleName(self.tr("Kind of server"))
        self.kind_box.addItem(self.tr("im-desktop server (UserSig login)"), "im")
        self.kind_box.addItem(self.tr("Other Satori server (token)"), "satori")
        self.url_edit = QLineEdit()
        self.url_edit.setAccessibleName(self.tr("Server address"))
        self.url_edit.setPlaceholderText("https://chat.example.com")
        self.ticket_edit = QLineEdit()
        self.ticket_edit.setAccessibleName(self.tr("Ticket server address"))
        self.ticket_edit.setPlaceholderText(self.tr("optional: your company's UserSig endpoint"))
        self.proxy_edit = QLineEdit()
        self.proxy_edit.setAccessibleName(self.tr("Proxy"))
        self.proxy_edit.setPlaceholderText(self.tr("optional: http://host:port or socks5://host:port"))
        self.proxy_edit.setToolTip(self.tr("Empty: the system's proxy settings. \u201cdirect\u201d: no proxy at all."))
        self.problem = plain_label()
        self.problem.setAccessibleName(self.tr("Problem"))
        mark_error(self.problem)
        form = QFormLayout()
        form.addRow(_buddy(self.tr("&Name:"), self.title_edit), self.title_edit)
        form.addRow(_buddy(self.tr("&Kind:"), self.kind_box), self.kind_box)
        form.addRow(_buddy(self.tr("&Address:"), self.url_edit), self.url_edit)
        form.addRow(_buddy(self.tr("&Ticket server:"), self.ticket_edit), self.ticket_edit)
        form.addRow(_buddy(self.tr("&Proxy:"), self.proxy_edit), self.proxy_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for edit in (self.title_edit, self.url_edit, self.ticket_edit, self.proxy_edit):
            edit.textChanged.connect(self._check)
        self.kind_box.currentIndexChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        satori = self.kind_box.currentData() == "satori"
        self.ticket_edit.setEnabled(not satori)
        problems = []
        if not self.title_edit.text().strip():
            problems.append(self.tr("Give the server a name."))
        if problem := _url_problem(self.url_edit.text().strip(), required=True):
            problems.append(self.tr("Address: {problem}.").format(problem=problem))
        if not satori and (problem := _url_problem(self.ticket_edit.text().strip(), required=False)):
            problems.append(self.tr("Ticket server: {problem}.").format(problem=problem))
        try:
            check_proxy(self.proxy_edit.text())
        except ValueError as exc:
            problems.append(self.tr("Proxy: {problem}.").format(problem=exc))
        self.problem.setText(" ".join(problems) if self.url_edit.text() or self.title_edit.text() else "")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not problems)

    def choice(self) -> ServerChoice:
        kind = str(self.kind_box.currentData())
        ticket = self.ticket_edit.text().strip() if kind == "im" else ""
        url = self.url_edit.text().strip().rstrip("/")
        return ServerChoice(self.title_edit.text().strip(), kind, url, ticket, check_proxy(self.proxy_edit.text()))
