"""The training story, top to bottom (after keras-io "Transfer learning & fine-tuning").

Data -> a plan from the data (image size, candidates, budget; ``trainer.plan``) -> augmentation
that keeps labels true (``trainer.augment``) -> each candidate fitted with class weights and early
stopping (a pretrained one: head first, then fine-tuning kept only if validation improves) -> the
candidate with the best validation accuracy wins -> temperature scaling fitted on validation and
folded into the head -> save -> export to ONNX with a parity check -> evaluate on the test split.
Seeded, so the same data and options give the same model on the same machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

import trainer
from trainer.augment import FlipDecision, augmentation, decide_flips
from trainer.calibration import fit_temperature, fold_temperature
from trainer.data import TrainingData, tf_dataset
from trainer.distribute import even_batch
from trainer.evaluate import write_json
from trainer.export import export_run
from trainer.files import replacing
from trainer.fit import Fit
from trainer.models import HEAD_LAYER, build_classifier, unfreeze_top_blocks
from trainer.options import TrainOptions
from trainer.plan import Candidate, Plan, make_plan, measure_traits
from trainer.progress import Progress
from trainer.run_folder import HISTORY_FILE, KERAS_FILE, SPLIT_FILE
from trainer.split import write_split_csv

SCRATCH_PATIENCE_FACTOR = 2
"""A model from scratch has a noisier validation loss than a pretrained one: it waits longer."""


@dataclass
class Trained:
    """One fitted candidate and how it did on the validation split."""

    candidate: Candidate
    model: keras.Model
    val_accuracy: float
    val_loss: float
    seconds: float
    phases: dict[str, dict[str, list[float]]]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return asdict(self.candidate) | {
            "val_accuracy": round(self.val_accuracy, 4),
            "val_loss": round(self.val_loss, 4),
            "train_seconds": round(self.seconds, 1),
            "epochs_run": epochs_run(self.phases),
            "notes": self.notes,
        }


def train_and_export(
    data: TrainingData,
    out: Path,
    options: TrainOptions,
    progress: Progress,
    scan_seconds: float = 0.0,
) -> dict[str, Any]:
    """Fit a model on ``data``, fill the run folder ``out`` and return the run's report."""
    keras.utils.set_random_seed(options.seed)
    out.mkdir(parents=True, exist_ok=True)
    write_split_csv(out / SPLIT_FILE, [(s.rel, s.label, data.splits[s.rel]) for s in data.samples])
    plan = make_plan(options, measure_traits([s.path for s in data.samples]))
    flips = decide_flips(data, _probe_size(plan), options.flips, options.seed)
    progress.start(
        backbone=" or ".join(c.backbone for c in plan.candidates),
        classes=data.classes,
        image_size=plan.candidates[-1].image_size,
        epochs=sum(planned_epochs(c, options) for c in plan.candidates),
        fine_tune_epochs=0,
        time_budget_seconds=plan.budget_seconds,
        plan=plan.as_dict(),
        flips=flips.as_dict(),
        split_sizes=data.split_sizes(),
        skipped=len(data.skipped),
    )

    progress.stage("training")
    started = time.perf_counter()
    results = train_candidates(plan, data, options, flips, progress)
    winner = max(results, key=lambda r: (r.val_accuracy, -r.val_loss))
    train_seconds = time.perf_counter() - started
    temperature = calibrate(winner, data, options.batch_size)

    size = winner.candidate.image_size
    save_model(winner.model, out / KERAS_FILE)
    write_json(
        out / HISTORY_FILE,
        {
            "trainer_version": trainer.__version__,
            "data_root": str(data.root.absolute()),
            "options": asdict(replace(options, backbone=winner.candidate.backbone))
            | {"image_size": size},
            "requested": asdict(options),
            "recipe": {
                "plan": plan.as_dict(),
                "flips": flips.as_dict(),
                "candidates": [r.summary() for r in results],
                "winner": winner.candidate.backbone,
                "why": why_winner(winner, results),
                "temperature": round(temperature, 4),
                "calibrated_on": "val",
            },
            "classes": data.classes,
            "skipped": [item.as_dict() for item in data.skipped],
            "phases": {
                f"{r.candidate.backbone}/{k}": v for r in results for k, v in r.phases.items()
            },
            "timings": {
                "scan_seconds": round(scan_seconds, 3),
                "train_seconds": round(train_seconds, 3),
                "train_images_per_second": round(
                    sum(epochs_run(r.phases) for r in results)
                    * len(data.part("train"))
                    / max(train_seconds, 1e-9),
                    2,
                ),
            },
        },
    )
    return export_run(out, model=winner.model, progress=progress)


def train_candidates(
    plan: Plan,
    data: TrainingData,
    options: TrainOptions,
    flips: FlipDecision,
    progress: Progress,
) -> list[Trained]:
    """Fit every candidate in turn; each gets an equal share of what is left of the budget."""
    started = time.monotonic()
    results = []
    for index, candidate in enumerate(plan.candidates):
        deadline = None
        if plan.budget_seconds is not None:
            left = plan.budget_seconds - (time.monotonic() - started)
            deadline = time.monotonic() + max(0.0, left) / (len(plan.candidates) - index)
        keras.utils.set_random_seed(options.seed)
        results.append(
            train_candidate(candidate, data, options, flips, progress, deadline, plan.augment)
        )
    return results


def train_candidate(
    candidate: Candidate,
    data: TrainingData,
    options: TrainOptions,
    flips: FlipDecision,
    progress: Progress,
    deadline: float | None,
    geometric: bool,
) -> Trained:
    """Fit one candidate: from scratch in one phase, or head then (if it pays) fine-tuning."""
    size, batch = candidate.image_size, options.batch_size
    augment = augmentation(options.seed, flips.flips, geometric)
    train_batch, val_batch = (even_batch(batch, len(data.part(p))) for p in ("train", "val"))
    train_ds = tf_dataset(
        data.part("train"), data.classes, size, train_batch, shuffle_seed=options.seed
    )
    train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y))
    val_ds = tf_dataset(data.part("val"), data.classes, size, val_batch)
    classifier = build_classifier(candidate.backbone, size, len(data.classes))
    fit = Fit(classifier.model, train_ds, val_ds, class_weights(data), progress, deadline)

    started = time.perf_counter()
    name = candidate.backbone
    first, rate = options.first_phase_epochs(name), options.learning_rate
    notes: list[str] = []
    if classifier.backbone is None:
        patience = options.patience * SCRATCH_PATIENCE_FACTOR
        phases = {"scratch": fit.phase(name, first, rate, patience)}
    else:
        phases = {"head": fit.phase(f"{name} head", first, rate, options.patience)}
        if options.fine_tune_epochs and not fit.out_of_time():
            phases["fine_tune"], kept = fine_tune(fit, classifier, options, name)
            notes.append(
                "fine-tuning kept: it lowered the validation loss"
                if kept
                else "fine-tuning undone: it did not lower the validation loss"
            )
    if fit.out_of_time():
        notes.append("stopped by the time budget at its best epoch so far")
    loss, accuracy = evaluate(classifier.model, val_ds)
    return Trained(
        candidate, classifier.model, accuracy, loss, time.perf_counter() - started, phases, notes
    )


def fine_tune(
    fit: Fit, classifier: Any, options: TrainOptions, name: str
) -> tuple[dict[str, list[float]], bool]:
    """Unfreeze the top blocks and fit at a low rate; undo it unless val_loss improved."""
    before_loss, _ = evaluate(fit.model, fit.val_ds)
    before = fit.model.get_weights()
    if not unfreeze_top_blocks(classifier, options.fine_tune_blocks):
        return {}, False
    history = fit.phase(
        f"{name} fine-tune",
        options.fine_tune_epochs,
        options.fine_tune_learning_rate,
        options.patience,
    )
    after_loss, _ = evaluate(fit.model, fit.val_ds)
    if after_loss < before_loss:
        return history, True
    fit.model.set_weights(before)
    return history, False


def evaluate(model: keras.Model, val_ds: Any) -> tuple[float, float]:
    """(val_loss, val_accuracy) of a compiled model."""
    loss, accuracy = model.evaluate(val_ds, verbose=0)
    return float(loss), float(accuracy)


def calibrate(winner: Trained, data: TrainingData, batch_size: int) -> float:
    """Fit the temperature on the validation split and fold it into the head; return T."""
    size = winner.candidate.image_size
    val = data.part("val")
    head = winner.model.get_layer(HEAD_LAYER)
    logits_model = keras.Model(winner.model.inputs, head.output)
    logits = logits_model.predict(tf_dataset(val, data.classes, size, batch_size), verbose=0)
    index = {name: i for i, name in enumerate(data.classes)}
    temperature = fit_temperature(logits, np.array([index[s.label] for s in val]))
    kernel, bias = fold_temperature(head.kernel.numpy(), head.bias.numpy(), temperature)
    head.kernel.assign(kernel)
    head.bias.assign(bias)
    return temperature


def why_winner(winner: Trained, results: list[Trained]) -> str:
    """One sentence for the report: what won, on what, against what."""
    if len(results) == 1:
        return f"{winner.candidate.backbone} was the only candidate ({winner.candidate.why})"
    others = ", ".join(
        f"{r.candidate.backbone} {r.val_accuracy:.3f}" for r in results if r is not winner
    )
    return (
        f"{winner.candidate.backbone} had the best validation accuracy "
        f"({winner.val_accuracy:.3f}; {others})"
    )


def planned_epochs(candidate: Candidate, options: TrainOptions) -> int:
    """The most epochs a candidate can run (early stopping and the budget may end it sooner)."""
    first = options.first_phase_epochs(candidate.backbone)
    return first if candidate.backbone == "small_cnn" else first + options.fine_tune_epochs


def epochs_run(phases: dict[str, dict[str, list[float]]]) -> int:
    return sum(len(phase.get("loss", [])) for phase in phases.values())


def class_weights(data: TrainingData) -> dict[int, float]:
    """'Balanced' weights so a class with few images counts as much as a big one."""
    index = {name: i for i, name in enumerate(data.classes)}
    labels = np.array([index[s.label] for s in data.part("train")])
    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    found = dict(zip(present.tolist(), weights.tolist(), strict=True))
    return {i: float(found.get(i, 1.0)) for i in range(len(data.classes))}


def save_model(model: keras.Model, path: Path) -> None:
    """Save as .keras under a temporary name first, so a crash never leaves half a file."""
    with replacing(path) as tmp:
        model.save(tmp)


def _probe_size(plan: Plan) -> int:
    """The mirror test runs at the pretrained candidate's size (or the only candidate's)."""
    pretrained = [c for c in plan.candidates if c.backbone == "efficientnet_lite0"]
    return (pretrained or list(plan.candidates))[0].image_size
