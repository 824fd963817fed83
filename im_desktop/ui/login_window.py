"""The login window: server profile, UserID with live validation, ticket source and secret, Remember me."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from im_desktop.ui.messages import describe_error
from im_desktop.ui.plain import LONG, plain_label, shown
from im_desktop.ui.theme import mark_error
from im_desktop.ui.user_id_hint import is_valid_user_id, user_id_problem

__all__ = ["SOURCES", "LoginRequest", "LoginWindow", "ProfileChoice"]

SOURCES = ("sandbox", "password", "usersig", "token")
_NEEDS_SECRET = frozenset({"password", "usersig"})  # a Satori token may be empty: many servers run without one
_USER_ID_CODES = frozenset({7003, 70107})
_TICKET_CODES = frozenset({6206, 70001, 70002, 70003, 70009, 70013, 70014, 70052, 90401})
_W = TypeVar("_W", bound=QWidget)


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """What the user asked for; `secret` is the password, pasted UserSig or token (empty for the sandbox)."""

    profile: str
    user_id: str
    source: str
    secret: str = field(repr=False)
    remember: bool

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown ticket source {self.source!r}")


@dataclass(frozen=True, slots=True)
class ProfileChoice:
    """A server profile in the picker: its key, the title shown, and the ticket sources it offers."""

    name: str
    title: str
    sources: tuple[str, ...]
    default_source: str

    def __post_init__(self) -> None:
        if not self.sources or any(s not in SOURCES for s in self.sources):
            raise ValueError(f"profile {self.name!r}: sources must be some of {SOURCES}")
        if self.default_source not in self.sources:
            raise ValueError(f"profile {self.name!r}: default source {self.default_source!r} is not offered")


def _named(widget: _W, name: str) -> _W:
    widget.setAccessibleName(name)
    return widget


def _hint_label(style: str = "") -> QLabel:
    label = plain_label()  # errors quote servers and keyrings: never rich text
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.hide()
    return label


def _buddy(text: str, widget: QWidget) -> QLabel:
    label = plain_label(text)
    label.setBuddy(widget)  # Alt+<underlined letter> moves to the field
    return label


def _stack(top: QWidget, below: QLabel) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(top)
    column.addWidget(below)
    return box


def _set_hint(edit: QLineEdit, label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))
    edit.setAccessibleDescription(text)


class LoginWindow(QWidget):
    """The login form. A dumb view: it validates what it can see and says what the user wants.

    Enter anywhere in the form logs in (a focused push button takes Enter for itself). On Log in the
    window goes busy at once, so a second Enter cannot start a second login; the app answers with
    `on_login_succeeded` or `on_login_failed`. The secret field is cleared before the request leaves.

    Signals:
        login_requested(object): a LoginRequest; its secret is nowhere else any more.
        profile_changed(str): the user picked another server profile (its name).
        add_server_requested(): the user wants to add a server that is not in the list.
    """

    login_requested = Signal(object)
    profile_changed = Signal(str)
    add_server_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Log in — IM Desktop"))
        self.setMinimumWidth(420)
        self._profiles: dict[str, ProfileChoice] = {}
        self._tried = False  # an empty field is only an error after the user tried to log in
        self._busy = False
        self._build()
        self.profile_box.currentIndexChanged.connect(self._on_profile_box_changed)
        self.source_box.currentIndexChanged.connect(self._on_source_box_changed)
        self.user_id_edit.textChanged.connect(self._revalidate)
        self.secret_edit.textChanged.connect(self._revalidate)
        self.add_server_button.clicked.connect(self.add_server_requested)
        self.login_button.clicked.connect(self._try_login)
        self._update_source_fields()
        self._revalidate()

    def _build(self) -> None:
        title = plain_label(self.tr("Log in"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)

        self.profile_box = _named(QComboBox(), self.tr("Server"))
        self.add_server_button = _named(QPushButton(self.tr("&Other server…")), self.tr("Add another server"))
        self.add_server_button.setAutoDefault(True)  # Enter on this button opens it, not the login
        self.user_id_edit = _named(QLineEdit(), self.tr("UserID"))
        self.user_id_edit.setPlaceholderText(self.tr("letters, digits, _ and -"))
        self.user_id_edit.setInputMethodHints(Qt.InputMethodHint.ImhNoAutoUppercase | Qt.InputMethodHint.ImhLatinOnly)
        self._user_id_hint = mark_error(_hint_label())
        self.source_box = _named(QComboBox(), self.tr("Ticket source"))
        self.secret_edit = _named(QLineEdit(), self.tr("Password"))
        self._secret_hint = mark_error(_hint_label())
        self.remember_box = _named(QCheckBox(self.tr("Re&member me on this computer")), self.tr("Remember me"))
        self.credentials_note = _named(_hint_label(), self.tr("Keyring note"))
        self.error_label = _named(mark_error(_hint_label()), self.tr("Login error"))
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = _named(QProgressBar(), self.tr("Login progress"))
        self.progress.setRange(0, 0)  # indeterminate: a login has no meaningful percentage
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.status_label = plain_label()
        for widget in (self.progress, self.status_label):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)  # the window must not jump when a login starts
            widget.setSizePolicy(policy)
            widget.hide()
        self.login_button = _named(QPushButton(self.tr("&Log in")), self.tr("Log in"))
        self.login_button.setDefault(True)
        self.login_button.setAutoDefault(True)
        self.login_button.setMinimumWidth(120)

        self._inputs = QWidget()
        self._form = form = QFormLayout(self._inputs)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        server_row = QHBoxLayout()
        server_row.addWidget(self.profile_box, 1)
        server_row.addWidget(self.add_server_button)
        form.addRow(_buddy(self.tr("&Server:"), self.profile_box), server_row)
        form.addRow(_buddy(self.tr("&UserID:"), self.user_id_edit), _stack(self.user_id_edit, self._user_id_hint))
        form.addRow(_buddy(self.tr("&Ticket:"), self.source_box), self.source_box)
        self._secret_label = _buddy(self.tr("&Password:"), self.secret_edit)
        self._secret_field = _stack(self.secret_edit, self._secret_hint)
        form.addRow(self._secret_label, self._secret_field)
        form.addRow("", _stack(self.remember_box, self.credentials_note))

        button_row = QHBoxLayout()
        button_row.addWidget(self.status_label, 1)
        button_row.addWidget(self.login_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(10)
        for part in (title, self._inputs, self.error_label, self.progress):
            layout.addWidget(part)
        layout.addLayout(button_row)
        layout.addStretch(1)

        # Top to bottom, the order the eye reads; hidden rows are skipped by Qt.
        chain = [self.profile_box, self.add_server_button, self.user_id_edit, self.source_box, self.secret_edit,
                 self.remember_box, self.login_button]  # fmt: skip
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    # -- what tests and the app may read --------------------------------------------------------
    @property
    def user_id_error(self) -> str:
        return self._user_id_hint.text() if not self._user_id_hint.isHidden() else ""

    @property
    def login_enabled(self) -> bool:
        return self.login_button.isEnabled()

    @property
    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def current_profile(self) -> str:
        return str(self.profile_box.currentData() or "")

    @property
    def current_source(self) -> str:
        return str(self.source_box.currentData() or "")

    # -- slots (the app calls these) ------------------------------------------------------------
    def set_profiles(self, profiles: list[ProfileChoice], current: str) -> None:
        self._profiles = {p.name: p for p in profiles}
        blocked = self.profile_box.blockSignals(True)  # filled by the app: not the user's choice
        self.profile_box.clear()
        for profile in profiles:
            self.profile_box.addItem(profile.title, profile.name)
        self.profile_box.setCurrentIndex(max(self.profile_box.findData(current), 0))
        self.profile_box.blockSignals(blocked)
        self._fill_sources()

    def set_user_id(self, user_id: str) -> None:
        self.user_id_edit.setText(user_id)

    def on_login_started(self) -> None:
        self._set_busy(True)
        self._show_error("")

    def on_login_failed(self, code: int, message: str) -> None:
        self._set_busy(False)
        text = describe_error(code, message)
        self._show_error(text)
        has_secret = self.current_source != "sandbox"
        target: QWidget = self.login_button  # network and server trouble: Enter simply tries again
        if code in _USER_ID_CODES or (code in _TICKET_CODES and not has_secret):
            target = self.user_id_edit
        elif code in _TICKET_CODES or not self.login_button.isEnabled():  # the password went with the request
            target = self.secret_edit
        target.setAccessibleDescription(text)  # read out when the focus lands there
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def on_login_succeeded(self) -> None:
        self._set_busy(False)
        self._show_error("")

    def on_credentials_unavailable(self, text: str, *, logged_in: bool = True) -> None:
        """The keyring failed: while saving a ticket (`logged_in`: the session goes on, unsaved) or while reading a
        remembered one (a login is needed now)."""
        if logged_in:
            note = self.tr("You stay logged in for this session only; nothing was lost.")
        else:
            note = self.tr("Log in to carry on; your conversations are kept on this computer.")
        self.credentials_note.setText(f"{shown(text, LONG)} {note}".strip())  # the keyring's words: bounded
        self.credentials_note.setAccessibleDescription(self.credentials_note.text())
        self.credentials_note.show()
        self._grow_to_fit()

    # -- behaviour ------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Line edits, combo boxes and the check box pass Enter up to us; this is the form's default action.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self._try_login()
            return
        super().keyPressEvent(event)

    def _on_profile_box_changed(self, _index: int) -> None:
        self._fill_sources()
        if self.current_profile:
            self.profile_changed.emit(self.current_profile)

    def _fill_sources(self) -> None:
        profile = self._profiles.get(self.current_profile)
        texts = self._source_texts()
        blocked = self.source_box.blockSignals(True)  # one update below, not one per item
        self.source_box.clear()
        for source in profile.sources if profile else ():
            self.source_box.addItem(texts[source][0], source)
        if profile is not None:
            self.source_box.setCurrentIndex(self.source_box.findData(profile.default_source))
        self.source_box.blockSignals(blocked)
        # A single choice is no choice: the row would only be noise.
        self._form.setRowVisible(self.source_box, self.source_box.count() > 1)
        self._on_source_box_changed(self.source_box.currentIndex())

    def _on_source_box_changed(self, _index: int) -> None:
        # Never carry a password over into the plain-text UserSig field (or anywhere else).
        self.secret_edit.setText("")
        self._update_source_fields()
        self._revalidate()

    def _source_texts(self) -> dict[str, tuple[str, str, str]]:
        """Per source: its title in the picker, the secret field's label and the field's placeholder."""
        return {
            "sandbox": (self.tr("Sandbox ticket (no password)"), self.tr("&Password:"), ""),
            "password": (self.tr("Password"), self.tr("&Password:"), ""),
            "usersig": (self.tr("Paste a UserSig"), self.tr("User&Sig:"), self.tr("Paste the whole UserSig here")),
            "token": (self.tr("Access token"), self.tr("&Token:"), self.tr("Leave empty if the server has none")),
        }

    def _update_source_fields(self) -> None:
        source = self.current_source
        _title, label, placeholder = self._source_texts().get(source, ("", self.tr("&Password:"), ""))
        self._form.setRowVisible(self._secret_field, source not in ("", "sandbox"))
        self._secret_label.setText(label)
        self.secret_edit.setAccessibleName(label.replace("&", "").rstrip(":"))
        self.secret_edit.setPlaceholderText(placeholder)
        # A pasted UserSig is long: the user must see what went in. Passwords and tokens stay hidden.
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Normal if source == "usersig" else QLineEdit.EchoMode.Password)
        hint = Qt.InputMethodHint  # after setEchoMode, which resets these for Normal
        self.secret_edit.setInputMethodHints(hint.ImhSensitiveData | hint.ImhNoPredictiveText | hint.ImhNoAutoUppercase)

    def _user_id_problem(self) -> str:
        return user_id_problem(self.user_id_edit.text(), tried=self._tried)

    def _secret_problem(self) -> str:
        if not self._tried or self.current_source not in _NEEDS_SECRET or self.secret_edit.text().strip():
            return ""
        return self.tr("Enter your password.") if self.current_source == "password" else self.tr("Paste a UserSig.")

    def _inputs_ready(self) -> bool:
        source = self.current_source
        secret_ok = source not in _NEEDS_SECRET or bool(self.secret_edit.text().strip())
        return bool(source) and is_valid_user_id(self.user_id_edit.text()) and secret_ok

    def _revalidate(self) -> None:
        _set_hint(self.user_id_edit, self._user_id_hint, self._user_id_problem())
        _set_hint(self.secret_edit, self._secret_hint, self._secret_problem())
        self.login_button.setEnabled(not self._busy and self._inputs_ready())
        self._grow_to_fit()

    def _try_login(self) -> None:
        if self._busy:
            return
        if not self._inputs_ready():
            self._tried = True  # from now on an empty field says what it needs
            self._revalidate()
            first_bad = self.user_id_edit if not is_valid_user_id(self.user_id_edit.text()) else self.secret_edit
            first_bad.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        source = self.current_source
        secret = "" if source == "sandbox" else self.secret_edit.text()
        if source in ("usersig", "token"):
            secret = secret.strip()  # pasted tickets often drag a newline or a space along
        request = LoginRequest(self.current_profile, self.user_id_edit.text(), source, secret,
                               self.remember_box.isChecked())  # fmt: skip
        # Clear and go busy before emitting: a handler that fails synchronously must find the window
        # ready for its on_login_failed, and the secret must not sit in the field while it runs.
        self.secret_edit.setText("")
        self.on_login_started()
        self.login_requested.emit(request)

    def _grow_to_fit(self) -> None:
        # Wrapped labels (hints, errors, the keyring note) need height for the width they get; a top-level
        # window does not grow for them by itself, so they would be squeezed over their neighbours.
        layout = self.layout()
        if not self.isWindow() or layout is None:
            return
        layout.activate()
        needed = max(self.heightForWidth(self.width()), self.minimumSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._inputs.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.status_label.setText(self.tr("Logging in…") if busy else "")
        self.status_label.setVisible(busy)
        self._revalidate()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setAccessibleDescription(text)
        self.error_label.setVisible(bool(text))
        if not text:
            self.login_button.setAccessibleDescription("")
        self._revalidate()  # the fields describe their own hints again; the window makes room
