"""A TCP relay between acceptors and a central service that can hold back the replies.

While :attr:`HoldProxy.hold` is set, requests still reach the central service
(which stores their events) but its replies stay here: every batch sent then
is stored and not acknowledged, the state a kill -9 "mid-send" leaves.  Once
cleared, held replies go on to the connections still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class HoldProxy:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target`` in a thread of its own."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.hold = threading.Event()
        self.held_replies = 0
        self.relayed = 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()  # the central service is away: as if refused
            return
        up = asyncio.create_task(self._pump(reader, up_writer))
        down = asyncio.create_task(self._replies(up_reader, writer))
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for w in (writer, up_writer):
            w.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held = bytearray()
        while True:
            data = b""
            with contextlib.suppress(TimeoutError):
                data = await asyncio.wait_for(reader.read(65536), 0.05)
                if not data:
                    return
            if self.hold.is_set():
                if data:
                    held += data
                    self.held_replies += 1
                continue
            if held or data:
                writer.write(bytes(held) + data)
                held.clear()
                self.relayed += 1
                await writer.drain()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
