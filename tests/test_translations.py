"""Every string the UI shows is in the Simplified Chinese .ts, and the app really switches language."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from PySide6.QtCore import QCoreApplication, QLocale
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from im_desktop.protocol.models import LoginStatus
from im_desktop.ui.resources import install_translator, remove_translator
from im_desktop.ui.status_bar import ConnectionStatusBar

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("translations", ROOT / "packaging" / "translations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_ui_string_has_a_chinese_translation() -> None:
    tool = _tool()
    done = tool.read_ts(ROOT / "resources" / "translations" / "im_desktop_zh_CN.ts")
    wanted = {(context, text) for context, texts in tool.all_strings().items() for text in texts}
    missing = sorted(wanted - set(done))
    assert not missing, f"run `python packaging/translations.py` and translate: {missing[:5]}"
    assert len(wanted) > 100


def test_the_app_speaks_chinese_for_a_chinese_locale(qtbot: QtBot, qapp: QApplication, tmp_path: Path) -> None:
    translator = install_translator(qapp, tmp_path / "qm", QLocale(QLocale.Language.Chinese, QLocale.Country.China))
    assert translator is not None
    try:
        bar = ConnectionStatusBar(debounce_ms=0)
        qtbot.addWidget(bar)
        bar.on_status_changed(LoginStatus.ONLINE)
        assert bar.state_text == "在线"
        assert QCoreApplication.translate("messages", "There is no such account.") == "没有这个账号。"
        assert QCoreApplication.translate("QLineEdit", "&Copy") == "复制(&C)"  # Qt's own words come along
    finally:
        remove_translator(qapp, translator)
    assert QCoreApplication.translate("QLineEdit", "&Copy") == "&Copy"  # and go with ours
