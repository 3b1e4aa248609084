"""The trainer as a child process (QProcess) whose JSON progress lines feed a TrainingRun.

A child process keeps TensorFlow out of the app and can be killed at any moment: Cancel means
kill, and the run is then never registered. stderr is kept (its tail) only to explain a crash
that left no ``error`` event.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from desktop.core.training_run import TrainingRun

log = logging.getLogger(__name__)

STDERR_TAIL = 8_000
"""Characters of the trainer's stderr kept to explain a crash without an error event."""


class TrainerProcess(QObject):
    """One trainer child process whose stdout lines feed a TrainingRun.

    ``event`` carries each progress event as it arrives; ``ended`` comes once, after the child
    exited (or failed to start), with the run's final status set.
    """

    event = Signal(object)  # TrainerEvent
    ended = Signal(object)  # TrainingRun

    def __init__(self, run: TrainingRun, command: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self.command = command
        self._buffer = b""
        self._stderr = ""
        self._process = QProcess(self)
        self._process.setProgram(command[0])
        self._process.setArguments(command[1:])
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("TF_CPP_MIN_LOG_LEVEL", "2")
        environment.insert("PYTHONUNBUFFERED", "1")
        self._process.setProcessEnvironment(environment)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)

    def start(self) -> None:
        self._process.start()

    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Kill the child now; ``ended`` follows with status ``cancelled``."""
        self.run.cancel()
        if self.is_running():
            self._process.kill()
            self._process.waitForFinished(10_000)

    def _read_stdout(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._feed(line)

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", "replace")
        self._stderr = (self._stderr + text)[-STDERR_TAIL:]

    def _feed(self, line: bytes) -> None:
        event = self.run.feed(line)
        if event is not None:
            self.event.emit(event)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            self._feed(self._buffer)
            self._buffer = b""
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self.run.finished(-1 if crashed and exit_code == 0 else exit_code, self._stderr)
        if self.run.status == "failed" and self.run.error:
            log.warning("trainer failed: %s\n%s", self.run.error, self._stderr[-2000:])
        self.ended.emit(self.run)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart:
            return  # crashes also arrive through finished()
        self.run.status = "failed"
        self.run.error = (
            f"could not start the trainer ({self.command[0]}): {self._process.errorString()}"
        )
        self.ended.emit(self.run)
