"""A TCP proxy on loopback that can cut a connection in the middle of a server reply.

Put between the daemon and Dovecot, it forwards bytes both ways; `cut_after(n)` arms it
so that the next connection to carry more than `n` bytes from the server is reset at
that byte (SO_LINGER 0: the client sees ECONNRESET, as with a firewall or a crashed
proxy), in the middle of whatever the server was sending — a FETCH literal, typically.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((HOST, 0))
        self.host = HOST
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._cut_after: int | None = None
        self.cuts = 0
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def cut_after(self, server_bytes: int) -> None:
        """Reset the next connection whose server side sends more than `server_bytes`."""
        with self._lock:
            self._cut_after = server_bytes

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            state = {"from_server": 0, "cut": False}
            threading.Thread(
                target=self._pump, args=(client, server, None, state), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, state, state), daemon=True
            ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        counting: dict[str, int | bool] | None,
        state: dict[str, int | bool],
    ) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if counting is not None:
                    with self._lock:
                        limit = self._cut_after
                        seen = int(counting["from_server"])
                        if limit is not None and seen + len(data) > limit:
                            self._cut_after = None
                            self.cuts += 1
                            state["cut"] = True
                            sink.sendall(data[: max(0, limit - seen)])
                            _reset(sink)
                            _reset(source)
                            return
                        counting["from_server"] = seen + len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer gets ECONNRESET mid-read."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
