"""Before a link from a message opens: the whole address, as plain text, and the person's yes or no."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QFontMetrics, QTextOption
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from im_desktop.ui.plain import plain_label, shown
from im_desktop.ui.rich_text import openable_url

__all__ = ["LinkDialog", "ask_to_open"]

_ADDRESS_LINES = 4


class LinkDialog(QDialog):
    """Window-modal: "Open this address?" with the address exactly as the message gave it (wrapped anywhere,
    so a long one cannot push the buttons off screen), and the host on its own, in the ASCII form the browser
    will contact (an IDN look-alike shows as xn--…)."""

    def __init__(self, href: str, url: QUrl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Open link"))
        self.url = url
        layout = QVBoxLayout(self)
        question = plain_label(self.tr("Open this address in your browser?"))
        layout.addWidget(question)
        self.address = QPlainTextEdit(shown(href, len(href)))  # control characters (there are none) as pictures
        self.address.setReadOnly(True)
        self.address.setAccessibleName(self.tr("Address"))
        self.address.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.address.setFixedHeight(QFontMetrics(self.address.font()).lineSpacing() * _ADDRESS_LINES + 12)
        layout.addWidget(self.address)
        host = url.host(QUrl.ComponentFormattingOption.FullyEncoded) if url.scheme().lower() != "mailto" else ""
        self.host = plain_label(self.tr("Server: {host}").format(host=host) if host else "")
        self.host.setVisible(bool(host))
        layout.addWidget(self.host)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = QPushButton(self.tr("Open"))
        self.open_button.setAccessibleName(self.tr("Open the address in the browser"))
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)  # Enter does not open a link by accident
        cancel.setFocus()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(480, self.sizeHint().height())


def ask_to_open(parent: QWidget, href: str) -> LinkDialog | None:
    """Ask, without blocking (open(), no nested loop); the browser opens only on "Open". None, and nothing
    shown, when the address is not one that may be opened (see rich_text.openable_url)."""
    url = openable_url(href)
    if url is None:
        return None
    dialog = LinkDialog(href, url, parent)
    dialog.accepted.connect(lambda: QDesktopServices.openUrl(dialog.url))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
