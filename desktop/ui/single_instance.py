"""One window per user: ``pigeonhole FOLDER`` while the app runs hands FOLDER to that window.

The first window listens on a QLocalServer (a Unix socket or Windows named pipe private to the
user); a later ``pigeonhole …`` connects, sends its paths as one JSON line (absolute, resolved in
its own working folder), waits for the window's "ok", and exits. The running window comes to the
front and adds the paths as if they were dropped on it (a project file opens that project).
A message that is not what we send is ignored: the socket is the user's, but it is still input.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

NAME_ENV = "PIGEONHOLE_INSTANCE"
"""Overrides the server name (tests run windows side by side without meeting the user's)."""
MAX_MESSAGE = 1 << 20
"""Bytes a hand-over may take: a million characters of paths is more than any drop."""
TIMEOUT_MS = 3000


def server_name() -> str:
    return os.environ.get(NAME_ENV) or f"pigeonhole-{getpass.getuser()}"


def encode(paths: Sequence[Path], project: Path | None) -> bytes:
    message = {
        "paths": [str(Path(p).expanduser().absolute()) for p in paths],
        "project": str(Path(project).expanduser().absolute()) if project else None,
    }
    return json.dumps(message).encode("utf-8") + b"\n"


def decode(data: bytes) -> tuple[list[Path], Path | None] | None:
    """The paths and project of a hand-over, or None for anything else."""
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    paths, project = message.get("paths"), message.get("project")
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        return None
    if project is not None and not (isinstance(project, str) and project):
        return None
    return [Path(p) for p in paths], (Path(project) if project else None)


def hand_over(paths: Sequence[Path], project: Path | None, name: str | None = None) -> bool:
    """Give the paths to a running window; False when none is running (start one then)."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write(encode(paths, project))
    socket.waitForBytesWritten(TIMEOUT_MS)
    answered = socket.waitForReadyRead(TIMEOUT_MS) and socket.readAll().data().startswith(b"ok")
    socket.disconnectFromServer()
    return answered


class InstanceServer(QObject):
    """Listens for later starts; ``requested(paths, project)`` for each hand-over."""

    requested = Signal(list, object)

    def __init__(self, parent: QObject | None = None, name: str | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        """Start listening; a name left behind by a crashed window is cleared first."""
        if self.server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)  # called only after hand_over found nobody
        if self.server.listen(self.name):
            return True
        log.warning(
            "single instance: cannot listen on %s: %s", self.name, self.server.errorString()
        )
        return False

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer += socket.readAll().data()
        if len(buffer) > MAX_MESSAGE:
            socket.abort()
            return
        if b"\n" not in buffer:
            return
        line = bytes(buffer.split(b"\n", 1)[0])
        message = decode(line)
        socket.write(b"ok\n" if message is not None else b"refused\n")
        socket.flush()
        socket.disconnectFromServer()
        if message is not None:
            self.requested.emit(*message)

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        socket.deleteLater()


def serve(window) -> InstanceServer | None:
    """Make ``window`` the one later starts hand their paths to (None if it cannot listen)."""
    server = InstanceServer(window)

    def receive(paths: list[Path], project: Path | None) -> None:
        if window.isMinimized():
            window.showNormal()
        window.raise_()
        window.activateWindow()
        if project is not None:
            window.project_files.open_path(project)
        if paths:
            window.ingest.add_paths(paths)

    server.requested.connect(receive)
    return server if server.listen() else None
