"""A raw HTTP/1.1 request over a socket: for headers and bodies no HTTP client library would send."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any
from urllib.parse import urlsplit


@dataclasses.dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> int | None:
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        return doc.get("code") if isinstance(doc, dict) else None

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_request(url: str, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes = b"", *, host: bytes | None = None, timeout: float = 10.0) -> RawReply:  # fmt: skip
    """Send one request exactly as given (plus Host, Content-Length and Connection: close) and read the reply."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    host_header = host if host is not None else parts.netloc.encode()
    head = [method + b" " + path + b" HTTP/1.1", b"Host: " + host_header, b"Connection: close",
            b"Content-Length: " + str(len(body)).encode()]  # fmt: skip
    head += [name + b": " + value for name, value in headers]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)  # Connection: close, so the reply ends at EOF
    finally:
        writer.close()
        await writer.wait_closed()
    head_bytes, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    if not lines[0].startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")):  # aiohttp answers an unparsable request in 1.0
        raise ConnectionError(f"no HTTP reply: {raw[:200]!r}")
    status = int(lines[0].split(b" ")[1])
    reply_headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        reply_headers[name.strip().lower()] = value.strip()
    return RawReply(status, reply_headers, payload)
