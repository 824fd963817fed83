"""The "Other server…" dialog: this project's server elsewhere, or any Satori server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from im_desktop.local.address_rules import check_proxy, plaintext_remote
from im_desktop.protocol.tls import read_ca_file
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
    allow_insecure: bool = False  # plain http:// to another computer, ticked explicitly (only offered then)
    ca_file: str = ""  # an absolute path to a PEM file of CA certificates, or ""


def _url_problem(url: str, required: bool) -> str:
    if not url:
        return "required" if required else ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must look like http://host:port or https://host"
    return ""


def _ca_path(text: str) -> str:
    """Absolute, so the profile means the same file whatever the app's working folder is later."""
    return os.path.abspath(os.path.expanduser(text)) if text else ""


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
        self.ca_edit = QLineEdit()
        self.ca_edit.setAccessibleName(self.tr("CA certificate file"))
        self.ca_edit.setPlaceholderText(self.tr("optional: your organisation's CA certificate (PEM)"))
        self.ca_edit.setToolTip(self.tr("Trusted for this server besides the system's certificate authorities."))
        self.ca_browse = QPushButton(self.tr("Browse…"))
        self.ca_browse.setAccessibleName(self.tr("Choose a CA certificate file"))
        self.ca_browse.clicked.connect(self._browse_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit)
        ca_row.addWidget(self.ca_browse)
        # Offered only for an http:// address on another computer; a secure address never carries the choice.
        self.insecure_box = QCheckBox(self.tr("Allow an unencrypted connection to this server (not recommended)"))
        self.insecure_box.setToolTip(self.tr("Anyone on the network between you and the server could read your "
                                             "password, login ticket and messages."))  # fmt: skip
        self.insecure_box.setVisible(False)
        self.problem = plain_label()
        self.problem.setAccessibleName(self.tr("Problem"))
        mark_error(self.problem)
        form = QFormLayout()
        form.addRow(_buddy(self.tr("&Name:"), self.title_edit), self.title_edit)
        form.addRow(_buddy(self.tr("&Kind:"), self.kind_box), self.kind_box)
        form.addRow(_buddy(self.tr("&Address:"), self.url_edit), self.url_edit)
        form.addRow(_buddy(self.tr("&Ticket server:"), self.ticket_edit), self.ticket_edit)
        form.addRow(_buddy(self.tr("&Proxy:"), self.proxy_edit), self.proxy_edit)
        form.addRow(_buddy(self.tr("&CA certificate:"), self.ca_edit), ca_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.insecure_box)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for edit in (self.title_edit, self.url_edit, self.ticket_edit, self.proxy_edit, self.ca_edit):
            edit.textChanged.connect(self._check)
        self.kind_box.currentIndexChanged.connect(self._check)
        self.insecure_box.toggled.connect(self._check)
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
        if ca := _ca_path(self.ca_edit.text().strip()):
            try:
                read_ca_file(ca)
            except ValueError as exc:
                problems.append(self.tr("CA certificate: {problem}.").format(problem=exc))
        insecure = self._insecure()
        self.insecure_box.setVisible(insecure)
        if insecure and not self.insecure_box.isChecked():
            problems.append(self.tr("An http:// address is unencrypted: use https://, or allow it below if you "
                                    "must."))  # fmt: skip
        self.problem.setText(" ".join(problems) if self.url_edit.text() or self.title_edit.text() else "")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not problems)

    def _insecure(self) -> bool:
        """Whether an address entered is plain http:// to another computer (loopback needs no consent)."""
        ticket = self.ticket_edit.text().strip() if self.kind_box.currentData() == "im" else ""
        return plaintext_remote(self.url_edit.text().strip()) or plaintext_remote(ticket)

    def _browse_ca(self) -> None:
        # open(), not exec() or a static getOpenFileName: no nested event loop under qasync.
        picker = QFileDialog(self, self.tr("CA certificate file"))
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.setNameFilters([self.tr("Certificates (*.pem *.crt *.cer)"), self.tr("All files (*)")])
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.fileSelected.connect(self.ca_edit.setText)
        picker.open()

    def choice(self) -> ServerChoice:
        kind = str(self.kind_box.currentData())
        ticket = self.ticket_edit.text().strip() if kind == "im" else ""
        url = self.url_edit.text().strip().rstrip("/")
        allow = self._insecure() and self.insecure_box.isChecked()
        return ServerChoice(self.title_edit.text().strip(), kind, url, ticket, check_proxy(self.proxy_edit.text()),
                            allow, _ca_path(self.ca_edit.text().strip()))  # fmt: skip
