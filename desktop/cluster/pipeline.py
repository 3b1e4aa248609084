"""The Ray Data pipeline: rows of (index, path) in, one result row per image out.

``decode_rows`` decodes with the local engine's ``decode_chunk`` (so with
``trainer.contract.decode_for_model`` and the same reasons for unreadable files); the
``Classifier`` actor holds one ONNX Runtime session for its life and predicts with the local
engine's ``predict_batch``. On CPU workers the actor decodes its own rows, the next batch in a
thread while ONNX Runtime runs the current one, as the local engine's decoders work beside its
session: decoded pixels never cross the object store, and decoding and inference overlap (done
one after the other, an actor is one busy thread: next to other jobs on a 2-core machine two of
them got 0.76 of the local engine's images/s, 1.03 with the overlap; benchmarks/scale.py). A GPU
worker gets its pixels from a separate ``map_batches`` stage of CPU decode tasks instead.
"""

from __future__ import annotations

import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class WorkerSpec:
    """What each Ray worker gets and does."""

    num_cpus: int = 1
    num_gpus: float = 0.0
    workers: int = 1
    """Classifier actors: the cluster's CPUs (or GPUs) divided by what one of them takes."""
    batch_size: int = 8
    top_k: int = 3
    embedding: bool = False


def decode_rows(batch: Batch, size: int) -> Batch:
    """Decode the files of a batch; a row that already has an error (a scanner skip) is kept."""
    from desktop.core.classify import decode_chunk

    errors = [str(e) for e in batch["error"]]
    todo = [i for i, error in enumerate(errors) if not error]
    decoded = decode_chunk([str(batch["path"][i]) for i in todo], size)
    pixels = np.zeros((len(errors), size, size, 3), np.uint8)
    pixels[[todo[i] for i in decoded.ok]] = decoded.pixels
    for position, reason in decoded.errors:
        errors[todo[position]] = reason
    return {
        "index": batch["index"],
        "path": batch["path"],
        "error": np.array(errors, dtype=object),
        "pixels": pixels,
    }


def input_blocks(rows: Any, workers: int, batch_size: int, most_rows: int = 1024) -> list[Any]:
    """Slices of the input table, each a whole number of batches: about 16 per worker.

    Actors take blocks one or two at a time as they free up, so small blocks keep both busy to
    the end (a block of 250 images is ~10 s of one core: the last one left a core idle that long,
    and an actor that started late could not hand work over) while a block of a few batches
    still makes Ray's per-task cost negligible. ``most_rows`` bounds a block on big inputs.
    """
    per_block = math.ceil(rows.num_rows / max(workers * 16, 1))
    per_block = min(max(per_block, batch_size), max(most_rows, batch_size))
    step = math.ceil(per_block / batch_size) * batch_size
    return [rows.slice(start, step) for start in range(0, max(rows.num_rows, 1), step)]


class Classifier:
    """A Ray actor: one ONNX Runtime session, opened once from the model's bytes.

    With ``input_size`` it is given rows of paths and decodes them itself, one batch ahead of
    the model (one decoding thread: Pillow and ONNX Runtime both release the GIL); without, it
    is given decoded pixels.
    """

    def __init__(
        self, model_bytes: bytes, model_name: str, spec: WorkerSpec, input_size: int | None = None
    ) -> None:
        from desktop.core.inference import open_session
        from desktop.core.model_file import check_model_file

        folder = Path(tempfile.mkdtemp(prefix="pigeonhole-model-"))
        path = folder / model_name
        path.write_bytes(model_bytes)
        provider = "auto" if spec.num_gpus > 0 else "cpu"
        self.session = open_session(check_model_file(path), provider, threads=spec.num_cpus)
        self.spec = spec
        self.input_size = input_size
        self.decoder = ThreadPoolExecutor(1, thread_name_prefix="decode") if input_size else None

    def __call__(self, batch: Batch) -> Batch:
        if self.decoder is None or self.input_size is None:
            return self.predict(batch)
        rows = len(batch["index"])
        step = self.spec.batch_size
        parts = [
            {k: v[start : start + step] for k, v in batch.items()} for start in range(0, rows, step)
        ]
        if not parts:
            return self.predict(decode_rows(batch, self.input_size))
        results = []
        ahead = self.decoder.submit(decode_rows, parts[0], self.input_size)
        for following in [*parts[1:], None]:
            decoded = ahead.result()
            if following is not None:
                ahead = self.decoder.submit(decode_rows, following, self.input_size)
            results.append(self.predict(decoded))
        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    def predict(self, batch: Batch) -> Batch:
        """Result rows for a batch of decoded pixels (rows with an error are passed through)."""
        from desktop.cli_classify import top_k_text
        from desktop.core.classify import predict_batch

        classes = self.session.model.classes
        errors = [str(e) for e in batch["error"]]
        ok = [i for i, error in enumerate(errors) if not error]
        result = predict_batch(self.session, ok, batch["pixels"][ok], [], self.spec.top_k)
        n = len(errors)
        prediction = np.full(n, "", dtype=object)
        confidence = np.full(n, np.nan, np.float32)
        top_k = np.full(n, "", dtype=object)
        for row, i in enumerate(ok):
            prediction[i] = classes[result.class_index[row]]
            confidence[i] = result.confidence[row]
            top_k[i] = top_k_text(result.top_k_index[row], result.top_k_prob[row], classes)
        out: dict[str, Any] = {
            "index": batch["index"],
            "path": batch["path"],
            "prediction": prediction,
            "confidence": confidence,
            "top_k": top_k,
            "error": np.array(errors, dtype=object),
        }
        if self.spec.embedding:
            embedding = np.full((n, self.session.model.embedding_dim), np.nan, np.float32)
            embedding[ok] = result.embedding
            out["embedding"] = embedding
        return out


def build_dataset(ray: Any, rows: Any, model_path: Path, input_size: int, spec: WorkerSpec) -> Any:
    """The lazy dataset of result rows for ``rows`` (a pyarrow table of index, path, error).

    CPU workers get whole blocks (a few batches each, see ``input_blocks``) and decode them
    themselves; GPU workers get batches that CPU tasks decoded.
    """
    dataset = ray.data.from_arrow(input_blocks(rows, spec.workers, spec.batch_size))
    model = (model_path.read_bytes(), model_path.name, spec)
    common = {
        "compute": ray.data.ActorPoolStrategy(size=spec.workers),
        "batch_format": "numpy",
        "num_cpus": spec.num_cpus,
        "num_gpus": spec.num_gpus,
    }
    if spec.num_gpus == 0:
        return dataset.map_batches(
            Classifier, fn_constructor_args=(*model, input_size), batch_size=None, **common
        )
    dataset = dataset.map_batches(
        decode_rows,
        fn_kwargs={"size": input_size},
        batch_size=spec.batch_size,
        batch_format="numpy",
        num_cpus=1,
    )
    return dataset.map_batches(
        Classifier, fn_constructor_args=model, batch_size=spec.batch_size, **common
    )
