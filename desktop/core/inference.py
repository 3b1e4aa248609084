"""The one place that opens ONNX Runtime sessions.

onnxruntime-gpu lists CUDA as available on any machine, then falls back to the CPU with a screen of
red log lines when there is no GPU, driver or CUDA library. So we ask for CUDA only when a driver is
there, load pip's CUDA libraries first (``preload_dlls``), keep ORT quiet while it tries, and then
read ``session.get_providers()`` to learn what really runs and tell the user why CUDA was not used.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnxruntime as ort

from desktop.core.cancel import Interrupted
from desktop.core.classify import cpu_count
from desktop.core.model_file import ModelFile
from trainer.contract import EMBEDDING_OUTPUT, INPUT_NAME, PROBS_OUTPUT

ProviderChoice = Literal["auto", "cpu", "cuda"]
PROVIDER_CHOICES: tuple[ProviderChoice, ...] = ("auto", "cpu", "cuda")

GPU = "GPU (CUDA)"
CPU = "CPU"
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
_ERRORS_ONLY = 3
_SILENT = 4
_ORT_ERRORS: tuple[type[BaseException], ...] = (
    *(
        value
        for value in vars(ort.capi.onnxruntime_pybind11_state).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ),
    RuntimeError,
    OSError,
    ValueError,
)
"""What ORT raises for a model it cannot load or run (its own types derive from Exception)."""

# Warnings (e.g. "some nodes were not assigned to the preferred provider") mean nothing to a user.
ort.set_default_logger_severity(_ERRORS_ONLY)


class InferenceError(Exception):
    """ONNX Runtime cannot load or run a model; the message says why."""


@dataclass(frozen=True)
class ProviderReport:
    """What really runs the model, for the status bar."""

    name: str
    """GPU or CPU: the provider ONNX Runtime actually uses."""
    reason: str = ""
    """Why CUDA was not used; empty when it is used."""

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})" if self.reason else self.name


@dataclass
class ModelRunner:
    """A checked model open in ONNX Runtime; ``run`` turns a batch of pixels into predictions.

    Not the app's ``Session`` (the open project, desktop/ui/session.py): this one runs a model."""

    model: ModelFile
    session: ort.InferenceSession
    report: ProviderReport
    io_binding: bool = False
    """Bind inputs and outputs explicitly (used on CUDA to skip ORT's per-call copies)."""
    _running: set[ort.RunOptions] = field(default_factory=set, repr=False)
    _running_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 or float32 pixels -> (probs (N, C), embeddings (N, D)) float32."""
        batch = np.ascontiguousarray(pixels, dtype=np.float32)
        fixed = self.model.batch_dim
        if fixed and len(batch) != fixed:
            return self._run_fixed(batch, fixed)
        options = ort.RunOptions()
        with self._running_lock:
            self._running.add(options)
        try:
            if self.io_binding:
                return self._run_bound(batch, options)
            probs, embedding = self.session.run(
                [PROBS_OUTPUT, EMBEDDING_OUTPUT], {INPUT_NAME: batch}, options
            )
        except _ORT_ERRORS as exc:
            if options.terminate:
                raise Interrupted(f"{self.model.path.name} was stopped") from exc
            raise InferenceError(
                f"{self.model.path.name} failed to run: {_first_line(exc)}"
            ) from exc
        finally:
            with self._running_lock:
                self._running.discard(options)
        return probs, embedding

    def interrupt(self) -> None:
        """Stop the runs in progress now, from any thread (they raise Interrupted): Cancel must
        not wait for a batch that takes long."""
        with self._running_lock:
            for options in self._running:
                options.terminate = True

    def _run_fixed(self, batch: np.ndarray, fixed: int) -> tuple[np.ndarray, np.ndarray]:
        """A model exported with a fixed batch size gets zero-padded slices of exactly that size."""
        probs, embeddings = [], []
        for start in range(0, len(batch), fixed):
            part = batch[start : start + fixed]
            padded = np.zeros((fixed, *batch.shape[1:]), np.float32)
            padded[: len(part)] = part
            part_probs, part_embedding = self.run(padded)
            probs.append(part_probs[: len(part)])
            embeddings.append(part_embedding[: len(part)])
        return np.concatenate(probs), np.concatenate(embeddings)

    def _run_bound(
        self, batch: np.ndarray, options: ort.RunOptions
    ) -> tuple[np.ndarray, np.ndarray]:
        binding = self.session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, batch)
        device = "cuda" if self.report.name == GPU else "cpu"
        binding.bind_output(PROBS_OUTPUT, device)
        binding.bind_output(EMBEDDING_OUTPUT, device)
        self.session.run_with_iobinding(binding, options)
        probs, embedding = binding.copy_outputs_to_cpu()
        return probs, embedding


def open_session(
    model: ModelFile,
    provider: ProviderChoice = "auto",
    *,
    threads: int | None = None,
    spinning: bool = False,
) -> ModelRunner:
    """Open ``model`` on the best provider allowed by ``provider`` and report what really runs.

    ``spinning=False`` stops ORT's idle threads from busy-waiting, which would steal the cores
    that decode images next to it; turn it on only when inference has the machine to itself.
    """
    if provider not in PROVIDER_CHOICES:
        raise InferenceError(
            f"unknown provider '{provider}': choose one of {', '.join(PROVIDER_CHOICES)}"
        )
    options = session_options(threads=threads, spinning=spinning)
    if provider == "cpu":
        session = _create(model, options, [_CPU])
        return ModelRunner(model, session, ProviderReport(CPU, "CPU was chosen"))
    unusable = cuda_unavailable_reason()
    if unusable:
        session = _create(model, options, [_CPU])
        return ModelRunner(model, session, ProviderReport(CPU, unusable))
    hint = _preload_cuda_libraries()
    ort.set_default_logger_severity(_SILENT)
    try:
        session = _create(model, options, [_CUDA, _CPU])
    finally:
        ort.set_default_logger_severity(_ERRORS_ONLY)
    if session.get_providers()[0] == _CUDA:
        return ModelRunner(model, session, ProviderReport(GPU), io_binding=True)
    reason = "the CUDA provider failed to load"
    reason += f" ({hint})" if hint else " (CUDA 12/13 or cuDNN 9 libraries missing?)"
    return ModelRunner(model, session, ProviderReport(CPU, reason))


def session_options(*, threads: int | None = None, spinning: bool = False) -> ort.SessionOptions:
    """Options tuned for throughput on batches: all graph optimisations, one thread per core."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.log_severity_level = _ERRORS_ONLY
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def cuda_unavailable_reason() -> str:
    """Why CUDA cannot work here before trying it, or "" when it is worth a try."""
    if _CUDA not in ort.get_available_providers():
        return "this ONNX Runtime has no CUDA support: install onnxruntime-gpu"
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(driver)
    except OSError:
        return "no NVIDIA GPU driver found"
    return ""


def _preload_cuda_libraries() -> str:
    """Load pip's CUDA/cuDNN wheels when present; return the first failure, or "".

    ``preload_dlls`` prints its failures to stdout, which the CLI may be using; we keep them.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return ""
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            preload()
    except (OSError, RuntimeError) as exc:
        return _first_line(exc)
    failures = [line for line in said.getvalue().splitlines() if line.startswith("Failed to load")]
    if not failures:
        return ""
    library = failures[0].removeprefix("Failed to load").split(":")[0].strip()
    return f"cannot load {os.path.basename(library)}; try `pip install onnxruntime-gpu[cuda,cudnn]`"


def _create(
    model: ModelFile, options: ort.SessionOptions, providers: list[str]
) -> ort.InferenceSession:
    # Opened from the path (not bytes) so external weights resolve next to the checked file.
    try:
        return ort.InferenceSession(str(model.path), options, providers=providers)
    except _ORT_ERRORS as exc:
        raise InferenceError(
            f"ONNX Runtime cannot load {model.path.name}: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
