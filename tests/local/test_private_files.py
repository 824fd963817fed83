"""Private files: bounded reads of regular files only, and writes that replace a file whole or leave it be."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from im_desktop.local.private_files import read_regular_file, replace_file


def test_a_failed_replace_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.mkdir()  # the rename over it fails, as a full disk or a read-only folder would make the write fail
    (target / "inside").write_text("old")
    with pytest.raises(IsADirectoryError):
        replace_file(target, b"new")
    assert (target / "inside").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]


def test_a_replaced_file_has_the_asked_mode_and_content(tmp_path: Path) -> None:
    target = tmp_path / "entry.desktop"
    target.write_text("old")
    replace_file(target, b"new", 0o644)
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o644 & ~_umask()


def test_reads_are_bounded_and_only_of_regular_files(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    assert read_regular_file(big, 10) == b"x" * 11  # one more than the limit: the caller sees it is too large
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a file"):
        read_regular_file(fifo, 10)  # without a writer: would block forever if opened for a plain read
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing", 10)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
