"""Window-modal questions for await_dialog: kicked offline (why, where, when) and an expired login ticket."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QDateTime, QLocale, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from im_desktop.ui.messages import describe_kick, valid_ms
from im_desktop.ui.plain import SHORT, plain_label, shown

__all__ = ["KICK_LOGIN_AGAIN", "KICK_LOG_OUT", "KICK_QUIT", "KickedDialog", "TicketDialog", "format_kick_time"]

# Result codes of KickedDialog, passed to done(); far from QDialog's Rejected (0) and Accepted (1).
KICK_LOGIN_AGAIN = 10
KICK_LOG_OUT = 11
KICK_QUIT = 12

_NOTE_STYLE = "font-size: small;"


def format_kick_time(at_ms: int, now: QDateTime | None = None) -> str:
    """'today at 14:03', 'yesterday at 09:12' or the full date, in the local time zone and the user's locale."""
    moment = QDateTime.fromMSecsSinceEpoch(at_ms)  # local time
    today = (now or QDateTime.currentDateTime()).date()
    locale = QLocale()
    time = locale.toString(moment.time(), QLocale.FormatType.ShortFormat)
    days_ago = moment.date().daysTo(today)
    if days_ago == 0:
        return QCoreApplication.translate("KickedDialog", "today at {time}").format(time=time)
    if days_ago == 1:
        return QCoreApplication.translate("KickedDialog", "yesterday at {time}").format(time=time)
    date = locale.toString(moment.date(), QLocale.FormatType.LongFormat)
    return QCoreApplication.translate("KickedDialog", "{date} at {time}").format(date=date, time=time)


def _headline(text: str) -> QLabel:
    label = plain_label(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.25)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def _paragraph(text: str, style: str = "") -> QLabel:
    label = plain_label(text)  # what a server sent ends up here: never rich text
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


def _icon(dialog: QDialog, which: QStyle.StandardPixmap) -> QLabel:
    label = plain_label()
    label.setPixmap(dialog.style().standardIcon(which).pixmap(48, 48))
    label.setAlignment(Qt.AlignmentFlag.AlignTop)
    return label


class KickedDialog(QDialog):
    """Another login (or the operator) ended this session: why, by which device, when, and what now.

    The result (via `finished`, see await_dialog) is KICK_LOGIN_AGAIN, KICK_LOG_OUT or KICK_QUIT.
    None of them deletes anything: the cache, drafts and outbox stay; the app decides what each means.

    Signals: only QDialog's own (`finished(int)` carries the result code).
    """

    def __init__(self, info: dict[str, object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setWindowTitle(self.tr("Logged out"))
        self.setAccessibleName(self.tr("Logged out"))
        self.setMinimumWidth(460)
        raw_by = info.get("by")
        by = raw_by if isinstance(raw_by, dict) else {}
        device, platform = shown(by.get("device_name"), SHORT), shown(by.get("platform"), SHORT)
        at, code = info.get("at"), info.get("code")

        self.summary = describe_kick(info)
        self.when_text = format_kick_time(at) if isinstance(at, int) and valid_ms(at) else ""
        details = QFormLayout()
        details.setContentsMargins(0, 2, 0, 2)
        details.setVerticalSpacing(2)
        if platform and not device:  # describe_kick names device and platform together; add what it left out
            details.addRow(_paragraph(self.tr("Platform:")), _paragraph(platform))
        if self.when_text:
            details.addRow(_paragraph(self.tr("When:")), _paragraph(self.when_text))
        if isinstance(code, int) and not isinstance(code, bool) and code:
            details.addRow(_paragraph(self.tr("Code:")), _paragraph(str(code)))

        text = QVBoxLayout()
        text.setSpacing(8)
        text.addWidget(_headline(self.tr("You were logged out on this computer")))
        text.addWidget(_paragraph(self.summary))
        text.addLayout(details)
        text.addWidget(_paragraph(self.tr("Your messages and drafts stay on this computer, whichever you choose.")))
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(_icon(self, QStyle.StandardPixmap.SP_MessageBoxWarning))
        top.addLayout(text, 1)

        self.login_again_button = self._button(self.tr("Log &in again"), KICK_LOGIN_AGAIN)
        self.log_out_button = self._button(self.tr("&Log out"), KICK_LOG_OUT)
        self.quit_button = self._button(self.tr("&Quit"), KICK_QUIT)
        buttons = QHBoxLayout()
        buttons.addWidget(self.quit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.log_out_button)
        buttons.addWidget(self.login_again_button)

        self.login_again_note = _paragraph(self.tr("\u201cLog in again\u201d logs the other device out."), _NOTE_STYLE)
        self.login_again_note.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addStretch(1)
        footer = QVBoxLayout()
        footer.setSpacing(4)  # the note belongs to the button right below it
        if by:
            self.login_again_button.setAccessibleDescription(self.login_again_note.text())
            footer.addWidget(self.login_again_note)
        else:
            self.login_again_note.hide()  # the operator's kick: there is no other device to log out
        footer.addLayout(buttons)
        layout.addLayout(footer)

        # Enter must not throw the other device out by accident: the plain choice has the focus and the default.
        QWidget.setTabOrder(self.log_out_button, self.login_again_button)
        QWidget.setTabOrder(self.login_again_button, self.quit_button)
        self.log_out_button.setDefault(True)
        self.log_out_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _button(self, text: str, result: int) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(text.replace("&", ""))
        button.setAutoDefault(True)  # Enter presses the button that has the focus
        button.clicked.connect(lambda: self.done(result))
        return button

    def reject(self) -> None:
        # Esc and the window's close button: "Log out" is the choice that does nothing irreversible. Logging
        # in again would throw the other device out and Quit would end the app, neither of which a stray key
        # should do; "Log out" only leaves this computer offline at the login window, and it deletes nothing
        # (history, drafts and the outbox stay in the cache), so the user can still log in again from there.
        self.done(KICK_LOG_OUT)


class TicketDialog(QDialog):
    """The login ticket expired and could not be renewed here: ask for the password or a new UserSig.

    Accepted means `secret()` holds what the user entered; read it, then call `clear_secret()`.
    Rejected (Cancel, Esc) clears the field. The window behind keeps its drafts and open conversation.

    Signals: only QDialog's own (`finished(int)`, `accepted()`, `rejected()`).
    """

    def __init__(self, user_id: str, source: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if source not in ("password", "usersig"):
            raise ValueError(f"a ticket can be asked for by password or UserSig, not {source!r}")
        self._source = source
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setWindowTitle(self.tr("Log in again"))
        self.setAccessibleName(self.tr("Login ticket expired"))
        self.setMinimumWidth(440)

        self.secret_edit = QLineEdit()
        self.secret_edit.setInputMethodHints(
            Qt.InputMethodHint.ImhSensitiveData | Qt.InputMethodHint.ImhNoPredictiveText
            | Qt.InputMethodHint.ImhNoAutoUppercase
        )  # fmt: skip
        if source == "password":
            ask = self.tr("Enter the password for {user} to carry on.").format(user=user_id)
            label = plain_label(self.tr("&Password:"))
            self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
            self.secret_edit.setAccessibleName(self.tr("Password"))
        else:
            ask = self.tr("Paste a new UserSig for {user} to carry on.").format(user=user_id)
            label = plain_label(self.tr("User&Sig:"))
            self.secret_edit.setAccessibleName(self.tr("UserSig"))
            self.secret_edit.setPlaceholderText(self.tr("Paste the whole UserSig here"))
        label.setBuddy(self.secret_edit)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button.setText(self.tr("&Log in"))
        self.ok_button.setAccessibleName(self.tr("Log in"))
        self.ok_button.setDefault(True)
        self.cancel_button.setText(self.tr("Cancel"))
        self.cancel_button.setAccessibleName(self.tr("Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.secret_edit.textChanged.connect(self._on_text_changed)

        field_row = QFormLayout()
        field_row.addRow(label, self.secret_edit)
        text = QVBoxLayout()
        text.setSpacing(8)
        text.addWidget(_headline(self.tr("Your login ticket has expired")))
        text.addWidget(_paragraph(ask))
        text.addWidget(_paragraph(self.tr("Your drafts and the open conversation are kept.")))
        text.addLayout(field_row)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(_icon(self, QStyle.StandardPixmap.SP_MessageBoxInformation))
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.secret_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self._on_text_changed()

    def secret(self) -> str:
        text = self.secret_edit.text()
        return text.strip() if self._source == "usersig" else text  # a password's spaces are its own

    def clear_secret(self) -> None:
        self.secret_edit.setText("")  # setText also drops the undo history, so Ctrl+Z cannot bring it back

    def accept(self) -> None:
        if self.secret_edit.text().strip():  # Enter in an empty field must not accept
            super().accept()

    def reject(self) -> None:
        self.clear_secret()
        super().reject()

    def _on_text_changed(self) -> None:
        self.ok_button.setEnabled(bool(self.secret_edit.text().strip()))
