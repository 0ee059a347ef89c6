"""A raw HTTP/1.0 GET for the tests of the servers streamclip runs (metrics, review pages, files):
the target goes out exactly as written, where an HTTP client would normalise it."""

from __future__ import annotations

import socket


def raw_get(port: int, target: str, headers: str = "", host: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """GET `target` from 127.0.0.1:`port` with `Host: host` and the extra `headers` lines (each ending
    in CRLF); the status, the response headers and the whole body (read until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:  # bounds a hang only
        conn.sendall(f"GET {target} HTTP/1.0\r\nHost: {host}\r\n{headers}\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body
