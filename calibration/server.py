"""The HTTP server's own bounds: a request head over :data:`MAX_REQUEST_HEAD_BYTES` is 431.

The app refuses headers over 16 kB (``calibration.guard``), but only once the
server has parsed them into the request's scope: a 50 MB header was read and
held whole before the app could say no.  Here the server counts the bytes of
each request's head (request line and headers) as they arrive and, past the
bound, answers 431 and closes the connection without reading further, so a
client can make it hold at most the bound plus one socket read (at most
:data:`STEP` bytes of slack on a read that ends one request and starts the
next).

uvicorn parses with httptools when it is installed (``uvicorn[standard]``, a
dependency), and httptools has no limit of its own: :class:`BoundedHeadProtocol`
adds one.  Under h11 (``--http h11``, or no httptools) uvicorn's
``h11_max_incomplete_event_size`` bounds the same bytes (h11 answers 400 then).
:func:`server_options` gives both to ``uvicorn.Config`` / ``uvicorn.run``.
"""

from __future__ import annotations

import json
from typing import Any

#: The most bytes a request's head (request line and headers) may take; more: 431 from the server.
MAX_REQUEST_HEAD_BYTES = 32 * 1024
#: While a head is incomplete, a socket read is given to the parser this many bytes at a time.
STEP = 4096

try:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _head_too_large() -> bytes:
    body = json.dumps(
        {"detail": f"the request's head is over {MAX_REQUEST_HEAD_BYTES} bytes"}
    ).encode()
    return b"".join(
        [
            STATUS_LINE[431],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


if HttpToolsProtocol is not None:

    class BoundedHeadProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, refusing a request head over the bound (431)."""

        max_head_bytes = MAX_REQUEST_HEAD_BYTES

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True
            self._head_bytes = 0

        def data_received(self, data: bytes) -> None:
            pos = 0
            while pos < len(data) and not self.transport.is_closing():
                if not self._in_head:
                    super().data_received(data[pos:] if pos else data)
                    return
                piece = data[pos : pos + STEP]
                pos += len(piece)
                super().data_received(piece)
                if self._in_head:
                    self._head_bytes += len(piece)
                    if self._head_bytes > self.max_head_bytes:
                        self.logger.warning(
                            "refused a request head over %d bytes (431)", self.max_head_bytes
                        )
                        self.transport.write(_head_too_large())
                        self.transport.close()
                        return


def server_options() -> dict[str, Any]:
    """``uvicorn.Config`` options that bound what a request's head may make the server hold."""
    options: dict[str, Any] = {"h11_max_incomplete_event_size": MAX_REQUEST_HEAD_BYTES}
    if HttpToolsProtocol is not None:
        options["http"] = BoundedHeadProtocol
    return options
