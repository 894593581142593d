#!/usr/bin/env python3
"""Starts a security server process and measures the time until it is ready.

usage: start_node.py HEALTH_ADDR LOG_FILE -- COMMAND...

Ready means: the health check port (HEALTH_ADDR, host:port) answers 200, i.e. the global
configuration is valid, the authentication certificate has a fresh OCSP response and the
server configuration is loaded, which the node only reports once its listeners are up. The
poller is running before the process is spawned and polls every millisecond, so the figure is
the process's own start-up time to within about a millisecond.

Prints one line, "PID READY_MS", and leaves the process running (the caller stops it by
PID). Exits 1, after killing the process, if it is not ready in 30 s or exits early.
"""
import socket
import subprocess
import sys
import time


def healthy(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main() -> int:
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    log = open(sys.argv[2], "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[4:], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    while time.monotonic() - t0 < 30:
        if proc.poll() is not None:
            print(f"process exited with {proc.returncode} before it was ready", file=sys.stderr)
            return 1
        if healthy(host, int(port)):
            print(proc.pid, f"{(time.monotonic() - t0) * 1000:.1f}")
            return 0
        time.sleep(0.001)
    proc.kill()
    print("not ready in 30 s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
