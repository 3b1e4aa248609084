"""``pigeonhole --self-test``: prove that an installed copy works, end to end, in a few seconds.

It opens the main window offscreen, classifies the bundled sample with the bundled model through
the same core code the window uses, and checks what a broken install would get wrong: missing
resources, a Qt that cannot start, a model that does not load, predictions that are mostly wrong,
the wrong ONNX Runtime provider, or TensorFlow leaking into the GUI process. It works in a
throw-away home folder so the user's projects and settings are never touched. Exit status 0 means
every check passed; otherwise each failure is printed with what went wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.resources import MissingResource, SampleProject, sample_project

if TYPE_CHECKING:
    from desktop.core.inference import ProviderReport
    from desktop.core.model_file import ModelFile

MIN_ACCURACY = 0.6
""""Mostly right": six times chance on ten classes; broken decoding or a wrong model scores ~10%."""
BATCH = 64


class CheckFailed(Exception):
    """One self-test check did not pass; the message says what was seen."""


@dataclass
class Outcome:
    """The checks run so far, printed as they finish."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def run(self, name: str, check: Callable[[], str]) -> None:
        try:
            detail = check()
        except CheckFailed as exc:
            self.failed.append(f"{name}: {exc}")
            print(f"FAIL {name}: {exc}", flush=True)
        else:
            self.passed.append(name)
            print(f"ok   {name}" + (f": {detail}" if detail else ""), flush=True)


@dataclass
class SelfTest:
    """State shared between the checks (the sample and the model found by earlier ones)."""

    home: Path
    expect_provider: str = "any"
    sample: SampleProject | None = None
    model: ModelFile | None = None

    def check_resources(self) -> str:
        try:
            self.sample = sample_project()
        except MissingResource as exc:
            raise CheckFailed(str(exc)) from exc
        count = len(self.sample.labelled_images())
        if count == 0:
            raise CheckFailed(f"no images in {self.sample.images}")
        return f"{count} sample images in {len(self.sample.class_names())} classes"

    def check_window(self) -> str:
        """Start Qt offscreen; open the main window on a scratch project, as ``pigeonhole`` does."""
        try:
            from desktop.app import application, open_window
            from desktop.core.paths import PROJECT_SUFFIX
        except ImportError as exc:
            raise CheckFailed(f"the window's code cannot be imported ({exc})") from exc
        app = application()
        project = self.home / f"self-test{PROJECT_SUFFIX}"
        try:
            window = open_window(project=project)
        except Exception as exc:  # any failure here is exactly what the self-test must report
            raise CheckFailed(
                f"the main window failed to open ({type(exc).__name__}: {exc})"
            ) from exc
        window.show()
        app.processEvents()
        title = window.windowTitle() or "(untitled)"
        window.close()
        app.processEvents()
        return f"'{title}' on the {app.platformName()} platform"

    def check_model(self) -> str:
        from desktop.core.model_file import ModelFileError, check_model_file

        if self.sample is None:
            raise CheckFailed("skipped: the sample was not found")
        try:
            self.model = check_model_file(self.sample.model)
        except ModelFileError as exc:
            raise CheckFailed(str(exc)) from exc
        if sorted(self.model.classes) != self.sample.class_names():
            raise CheckFailed(
                f"the model's classes {self.model.classes} do not match the sample's folders"
            )
        return f"{len(self.model.classes)} classes, input {self.model.input_size}px"

    def check_predictions(self) -> str:
        import numpy as np

        from desktop.core.inference import GPU, InferenceError, open_session
        from trainer.contract import UnreadableImage, decode_for_model

        if self.model is None or self.sample is None:
            raise CheckFailed("skipped: no usable model")
        try:
            session = open_session(self.model, "auto")
        except InferenceError as exc:
            raise CheckFailed(str(exc)) from exc
        _check_provider(session.report, self.expect_provider, GPU)
        items = self.sample.labelled_images()
        predicted: list[str] = []
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            try:
                pixels = np.stack([decode_for_model(p, self.model.input_size) for p, _ in chunk])
                probs, _ = session.run(pixels)
            except (UnreadableImage, InferenceError) as exc:
                raise CheckFailed(str(exc)) from exc
            predicted.extend(self.model.classes[i] for i in probs.argmax(axis=1))
        right = sum(p == truth for p, (_, truth) in zip(predicted, items, strict=True))
        accuracy = right / len(items)
        if accuracy < MIN_ACCURACY:
            raise CheckFailed(
                f"only {right}/{len(items)} ({accuracy:.0%}) right, expected at least "
                f"{MIN_ACCURACY:.0%}: the model or the image decoding is broken"
            )
        return f"{right}/{len(items)} ({accuracy:.0%}) right on {session.report}"

    def check_no_tensorflow(self) -> str:
        if "tensorflow" in sys.modules or "keras" in sys.modules:
            raise CheckFailed("TensorFlow was imported by the app; only `train` may import it")
        return ""


def _check_provider(report: ProviderReport, expected: str, gpu_name: str) -> None:
    """CPU is fine only when a reason is given, or GPU when it was demanded."""
    on_gpu = report.name == gpu_name
    if expected == "gpu" and not on_gpu:
        raise CheckFailed(f"expected the GPU, but ONNX Runtime runs on {report}")
    if expected == "cpu" and on_gpu:
        raise CheckFailed("expected the CPU, but ONNX Runtime runs on the GPU")
    if not on_gpu and not report.reason:
        raise CheckFailed("ONNX Runtime fell back to the CPU without saying why")


def isolate_user_state(home: Path) -> None:
    """Point settings, data and cache at ``home`` so the test never touches the user's files."""
    for variable, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        os.environ[variable] = str(home / sub)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def run_checks(home: Path, expect_provider: str = "any") -> Outcome:
    """Run every check with ``home`` as the scratch folder; failures do not stop later checks."""
    test = SelfTest(home=home, expect_provider=expect_provider)
    outcome = Outcome()
    outcome.run("bundled resources", test.check_resources)
    outcome.run("main window", test.check_window)
    outcome.run("bundled model", test.check_model)
    outcome.run("predictions", test.check_predictions)
    outcome.run("no TensorFlow in the app", test.check_no_tensorflow)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pigeonhole --self-test", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--expect-provider",
        choices=("any", "cpu", "gpu"),
        default="any",
        help="fail unless ONNX Runtime runs on this provider (default: either, with a reason)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pigeonhole-selftest-") as home:
        isolate_user_state(Path(home))
        outcome = run_checks(Path(home), args.expect_provider)
    total = len(outcome.passed) + len(outcome.failed)
    if outcome.failed:
        print(f"self-test FAILED: {len(outcome.failed)} of {total} checks failed", file=sys.stderr)
        for line in outcome.failed:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print(f"self-test passed: {total} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
