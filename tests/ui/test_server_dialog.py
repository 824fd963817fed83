"""The "Other server…" dialog: checks the addresses and returns what the user chose."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from im_desktop.ui.server_dialog import ServerChoice, ServerDialog


def _ok(dialog: ServerDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_addresses_are_checked_before_ok(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    assert not _ok(dialog)
    qtbot.keyClicks(dialog.title_edit, "Work")
    qtbot.keyClicks(dialog.url_edit, "chat.example.com")
    assert not _ok(dialog)
    assert "http://host:port" in dialog.problem.text()
    dialog.url_edit.setText("https://chat.example.com/")
    assert _ok(dialog)
    dialog.ticket_edit.setText("ftp://nope")
    assert not _ok(dialog)
    dialog.ticket_edit.setText("https://tickets.example.com/usersig")
    assert _ok(dialog)
    assert dialog.choice() == ServerChoice(
        "Work", "im", "https://chat.example.com", "https://tickets.example.com/usersig"
    )


def test_a_satori_server_needs_no_ticket_server_and_the_dialog_is_window_modal(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.kind_box.setCurrentIndex(dialog.kind_box.findData("satori"))
    dialog.title_edit.setText("Koishi")
    dialog.url_edit.setText("http://127.0.0.1:5140/satori")
    dialog.ticket_edit.setText("ignored")
    assert not dialog.ticket_edit.isEnabled()
    assert dialog.choice() == ServerChoice("Koishi", "satori", "http://127.0.0.1:5140/satori", "")
    assert dialog.windowModality() == Qt.WindowModality.WindowModal
    for widget in (dialog.title_edit, dialog.kind_box, dialog.url_edit, dialog.ticket_edit):
        assert widget.accessibleName()


def test_a_proxy_is_checked_as_typed_and_kept_in_one_spelling(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.title_edit.setText("Work")
    dialog.url_edit.setText("https://chat.example.com")
    assert _ok(dialog) and dialog.choice().proxy == ""  # the system's proxies
    qtbot.keyClicks(dialog.proxy_edit, "socks5://127.0.0.1")
    assert not _ok(dialog)
    assert "Proxy: needs a port" in dialog.problem.text()
    qtbot.keyClicks(dialog.proxy_edit, ":1080")
    assert _ok(dialog)
    dialog.proxy_edit.setText("http://alice:secret@proxy.example.com:3128")
    assert not _ok(dialog) and "no secrets" in dialog.problem.text()
    dialog.proxy_edit.setText(" HTTP://Proxy.Example.com:3128 ")
    assert _ok(dialog)
    assert dialog.choice().proxy == "http://proxy.example.com:3128"


def test_plain_http_to_another_computer_needs_the_explicit_checkbox(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.title_edit.setText("Work")
    dialog.url_edit.setText("https://chat.example.com")
    assert _ok(dialog) and dialog.insecure_box.isHidden()  # nothing to consent to for https
    dialog.url_edit.setText("http://chat.example.com:5140")
    assert not dialog.insecure_box.isHidden() and not dialog.insecure_box.isChecked()
    assert not _ok(dialog) and "unencrypted" in dialog.problem.text()
    assert "not recommended" in dialog.insecure_box.text()
    dialog.insecure_box.setChecked(True)
    assert _ok(dialog)
    assert dialog.choice().allow_insecure is True
    dialog.url_edit.setText("http://127.0.0.1:5140")  # this computer: plain is fine, and no consent is carried
    assert dialog.insecure_box.isHidden() and _ok(dialog)
    assert dialog.choice().allow_insecure is False
    dialog.url_edit.setText("https://chat.example.com")
    dialog.ticket_edit.setText("http://tickets.example.com/usersig")  # a password would go in clear text
    assert not dialog.insecure_box.isHidden()
    dialog.insecure_box.setChecked(False)
    assert not _ok(dialog)
    dialog.kind_box.setCurrentIndex(dialog.kind_box.findData("satori"))  # no ticket server for a Satori server
    assert dialog.insecure_box.isHidden() and _ok(dialog)


def test_a_ca_file_is_checked_and_kept_as_an_absolute_path(qtbot: QtBot, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import trustme

    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.title_edit.setText("Work")
    dialog.url_edit.setText("https://chat.internal")
    assert dialog.choice().ca_file == ""  # optional: the system's store alone
    dialog.ca_edit.setText(str(tmp_path / "missing.pem"))
    assert not _ok(dialog) and "CA certificate: cannot be opened" in dialog.problem.text()
    (tmp_path / "notes.txt").write_text("not a certificate")
    dialog.ca_edit.setText(str(tmp_path / "notes.txt"))
    assert not _ok(dialog) and "not a PEM certificate" in dialog.problem.text()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "company-ca.pem"))
    monkeypatch.chdir(tmp_path)
    dialog.ca_edit.setText("company-ca.pem")
    assert _ok(dialog)
    assert dialog.choice().ca_file == str(tmp_path / "company-ca.pem")
    assert dialog.ca_edit.accessibleName() and dialog.insecure_box.text()
