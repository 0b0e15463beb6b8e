#!/usr/bin/env python3
"""Fails, naming them, if processes a test run started are still alive.

Every process ./test.sh starts inherits ESPRIT_TEST_RUN=<marker>; at the end of
the run nothing but the run itself may carry it. Usage:
    leftovers.py MARKER RUN_PID
Survivors are listed with their command line, then killed so the machine is
left clean, and the exit status is 1.
"""
import os
import signal
import sys
import time


def processes():
    """(pid, parent pid, environment, command line) of every process we can read."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        yield int(name), ppid, environ, cmdline


def survivors(marker, run_pid):
    mark = f"ESPRIT_TEST_RUN={marker}".encode()
    found = {pid: (ppid, cmd) for pid, ppid, env, cmd in processes() if mark in env}
    # The run itself and this check (with whatever it forked) are not leftovers.
    mine = {run_pid, os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in found.items():
            if ppid in mine and pid not in mine and ppid != 1:
                mine.add(pid)
                changed = True
    # Ancestors of this check (the shell running the trap) are the run too.
    pid = os.getppid()
    while pid in found:
        mine.add(pid)
        pid = found[pid][0]
    return {pid: cmd for pid, (_, cmd) in found.items() if pid not in mine}


def main():
    marker, run_pid = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + 10
    left = survivors(marker, run_pid)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)  # servers that are stopping get their moment
        left = survivors(marker, run_pid)
    if not left:
        print("leftovers: no process started by the run is still alive")
        return 0
    print(f"leftovers: {len(left)} process(es) started by the run are still alive:")
    for pid, cmd in sorted(left.items()):
        print(f"  {pid}  {cmd}")
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
