"""A TCP proxy between a client and PostgreSQL that a test can make lose messages.

`lose(n, replies=True)`: the n-th chunk the server sends from now on is
dropped and its connection cut at once, in both directions: what the server
did for the request stays done, but the client never hears of it (an
acknowledgement lost). With `replies=False` the client's n-th chunk is lost
instead: the server never sees the request. With `then_refuse`, the proxy
also turns every new connection away until `restore()`, so that the client
cannot simply reconnect and retry.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class ReplyCuttingProxy:
    """Listens on a free loopback port and forwards to `host:port`."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._countdown = {True: 0, False: 0}
        self._then_refuse = False
        self.refusing = False
        self.replies = 0
        """Server chunks forwarded so far."""
        self.cuts = 0
        """Connections cut by a lost reply."""
        threading.Thread(target=self._accept, daemon=True).start()

    def lose(self, n: int, *, replies: bool = True, then_refuse: bool = False) -> None:
        """Drop the n-th chunk of the server (or client) from now on (1: the next one), and cut."""
        with self._lock:
            self._countdown[replies] = n
            self._then_refuse = then_refuse

    def restore(self) -> None:
        """Accept new connections again."""
        self.refusing = False

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            for source, sink, replies in ((client, server, False), (server, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, sink, (client, server), replies), daemon=True
                ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        pair: tuple[socket.socket, socket.socket],
        replies: bool,
    ) -> None:
        try:
            while data := source.recv(65536):
                if self._lost(replies):
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in pair:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _lost(self, replies: bool) -> bool:
        with self._lock:
            if self.refusing:
                return True
            self.replies += replies
            if self._countdown[replies] == 0:
                return False
            self._countdown[replies] -= 1
            if self._countdown[replies] > 0:
                return False
            self.cuts += 1
            self.refusing = self._then_refuse
            return True
