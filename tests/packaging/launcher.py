"""Runs a command as a child subreaper, so an app that a launcher detaches (gio launch) is still ours to reap.

    python launcher.py STATUS_FILE COMMAND...

Every descendant that ends is reaped here; one JSON line per process goes to STATUS_FILE: its pid, command
line and exit code. The launcher exits when no descendant is left, with the first non-zero exit code, or 0.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    status_file, command = argv[0], argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    names: dict[int, str] = {}
    first = subprocess.Popen(command)
    names[first.pid] = " ".join(command)
    worst = 0
    while True:
        for pid in _children(os.getpid()):  # note names while they live: a reaped process has none
            names.setdefault(pid, _cmdline(pid))
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return worst
        code = os.waitstatus_to_exitcode(status)
        worst = worst or code
        with open(status_file, "a", encoding="utf-8") as out:
            out.write(json.dumps({"pid": pid, "cmdline": names.get(pid, ""), "code": code}) + "\n")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as file:
            return [int(child) for child in file.read().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
