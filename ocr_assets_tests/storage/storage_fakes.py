"""Faulty S3 endpoints for the storage fault tests (``test_reliability_storage.py``).

:class:`SilentEndpoint` accepts connections and never answers; :func:`point_at` configures the
storage layer (:func:`ocr_assets.storage.config.configure`) to reach an endpoint with
:data:`FAST_CONFIG`'s test-sized limits, and gives the process dummy credentials.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import replace

import pytest
import s3fs

from ocr_assets.storage import objects
from ocr_assets.storage.config import StorageConfig, configure

#: Test-sized storage limits: a silent endpoint must fail each operation within seconds.
FAST_CONFIG = StorageConfig(
    connect_timeout=1,
    read_timeout=1,
    probe_timeout=3,
    stall_timeout=3,
    attempts=2,
    region="us-east-1",
)


class SilentEndpoint:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a stopped proxy).

    :meth:`close` brings the "proxy" back as a server that answers every request, pending ones
    included, with 404 Not Found, until the clients the code under test gave up on have
    returned (a client call that returns while the interpreter shuts down aborts it). The
    server stops after ``lifetime`` seconds at the latest, so a failing test cannot hang.
    """

    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self, lifetime: float = 120.0) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.deadline = time.monotonic() + lifetime
        self.answering = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(0.5)
        with contextlib.suppress(OSError):
            connection.recv(65536)  # the request (or nothing more, for a pending one)
        with contextlib.suppress(OSError):
            connection.sendall(self.NOT_FOUND)
        connection.close()

    def _accept(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            if self.answering.is_set():
                while self.accepted:
                    self._answer(self.accepted.pop())
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.accepted.append(connection)
        for connection in self.accepted:
            connection.close()
        self.server.close()

    def close(self) -> None:
        """Answer everything until the abandoned client calls returned, then stop."""
        self.answering.set()
        still_running = objects.join_abandoned(60)
        self.stopped.set()
        self.thread.join()
        assert still_running == []


def point_at(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, config: StorageConfig = FAST_CONFIG
) -> None:
    """Configure the storage layer to reach ``endpoint`` under ``config``'s limits.

    The endpoint comes from the storage configuration only (``AWS_ENDPOINT_URL`` is removed
    from the environment); the process gets dummy credentials, which the SDKs read themselves.
    """
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    configure(replace(config, endpoint_url=endpoint))
    s3fs.S3FileSystem.clear_instance_cache()
