"""Read PyTorch's legacy (non-zip) ``.pth`` checkpoints with ``pickle`` and numpy alone.

The pretrained EfficientNet-Lite0 weights ship as a PyTorch state dict, and we do not want torch as
a dependency just to read 17 MB of floats. The legacy format is a run of pickles (magic number,
protocol version, system info, the state dict whose tensors point at storages by persistent id,
the sorted list of storage keys) followed by each storage's raw bytes: an 8-byte little-endian
element count, then the elements.

A pickle can run any code it names, so the unpickler here resolves only the handful of globals a
state dict needs and refuses everything else before it is imported.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(Exception):
    """A checkpoint file we cannot read, with a reason a person can act on."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only its dtype matters to us."""

    dtype: np.dtype


@dataclass
class _Storage:
    """A storage named in the state dict; its bytes come after the pickles."""

    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _PendingTensor:
    """A tensor whose storage has not been read yet (the bytes follow the state dict)."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: list[Any] = field(default_factory=list)

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise CheckpointError("a tensor refers to a storage the file never stores")
        if self.offset + _span(self.shape, self.stride) > data.size:
            raise CheckpointError("a tensor reaches past the end of its storage: file is damaged")
        base = data[self.offset :]
        strides = tuple(s * data.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(base, self.shape, strides).copy()


def _span(shape: tuple[int, ...], stride: tuple[int, ...]) -> int:
    """Elements from the first to one past the last element a strided view touches."""
    if any(n == 0 for n in shape):
        return 0
    return 1 + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, shape: tuple, stride: tuple, *extra: Any
) -> _PendingTensor:
    return _PendingTensor(storage, int(offset), tuple(shape), tuple(stride), list(extra))


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs; anything else is refused, never imported."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise CheckpointError(
            f"the checkpoint asks to load '{module}.{name}', which a plain weights file never "
            "needs; refusing to read it (it may be malicious or not a state dict)"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id in checkpoint: {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unknown storage type in checkpoint: {storage_type!r:.80}")
        if view_metadata is not None:
            raise CheckpointError("storage views (PyTorch < 0.4 checkpoints) are not supported")
        storage = self._storages.get(key)
        if storage is None:
            storage = _Storage(storage_type.dtype, int(numel))
            self._storages[key] = storage
        return storage


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a legacy-format ``.pth`` state dict as numpy arrays, by parameter name.

    Raises CheckpointError for missing, zip-format, damaged or unsafe files.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            return _read(file, path)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} does not exist") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(
            f"{path.name} is damaged or not a PyTorch checkpoint ({exc})"
        ) from exc


def _read(file: BinaryIO, path: Path) -> dict[str, np.ndarray]:
    if file.read(2) == b"PK":
        raise CheckpointError(
            f"{path.name} uses PyTorch's zip format; only the legacy format is supported"
        )
    file.seek(0)
    storages: dict[str, _Storage] = {}

    def load() -> Any:
        return _StateDictUnpickler(file, storages).load()

    if load() != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"{path.name} is not a PyTorch legacy checkpoint (bad magic number)")
    if load() != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"{path.name} uses an unknown PyTorch serialization protocol")
    sys_info = load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise CheckpointError(f"{path.name} was written on a big-endian machine; not supported")
    state = load()
    if not isinstance(state, dict):
        raise CheckpointError(f"{path.name} holds a {type(state).__name__}, not a state dict")
    storage_keys = load()
    for key in storage_keys:
        _read_storage(file, storages[key])
    return {name: _as_array(name, value) for name, value in state.items()}


def _read_storage(file: BinaryIO, storage: _Storage) -> None:
    count = int.from_bytes(file.read(8), "little", signed=True)
    if count != storage.numel:
        raise CheckpointError(
            f"storage size {count} does not match {storage.numel}: file is damaged"
        )
    raw = file.read(count * storage.dtype.itemsize)
    if len(raw) != count * storage.dtype.itemsize:
        raise CheckpointError("the checkpoint ends in the middle of its weights: file is truncated")
    storage.data = np.frombuffer(raw, dtype=storage.dtype)


def _as_array(name: str, value: Any) -> np.ndarray:
    if not isinstance(value, _PendingTensor):
        raise CheckpointError(f"state dict entry {name!r} is not a tensor")
    return value.materialize()
