"""Kill a labelling process at random moments and prove that nothing it acknowledged was lost.

A child process labels, relabels, undoes and redoes through ``desktop.core.store.Project`` (the
API the window uses). Before each call it prints what it is about to do, and after the call
returns (the store has committed) it prints an acknowledgement, flushed. The parent SIGKILLs it
at a random moment, then checks the project file with a fresh SQLite connection:

- ``PRAGMA integrity_check`` is ok;
- the labels are exactly what the acknowledged actions imply, or that plus the one action in
  flight (committed but killed before it could say so); anything else is an action lost;
- the undo history has the same actions in the same order with the same number applied;
- at the end, undoing every label action and redoing them all gives the states they should.

    python tools/crash_stress.py --kills 100 --seed 0          # the full run
    python tools/crash_stress.py --kills 10 --json             # what the test suite runs
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from desktop.core.history import HISTORY_LIMIT
from desktop.core.records import FoundFile
from desktop.core.store import Project

N_IMAGES = 12
CLASS_NAMES = ("cat", "dog", "bird")
HANG_SECONDS = 60.0
"""A child that prints nothing for this long is killed and counted as a hang."""

Labels = dict[int, int | None]


# ---------------------------------------------------------------------------------------------
# The child: labels through the store, saying what it does


def is_label_action(text: str) -> bool:
    """Label actions are the ones the stress undoes; class set-up below them stays."""
    return text.startswith(("Label ", "Clear the label"))


def run_child(project_path: Path, seed: int) -> None:
    """Label, relabel, undo and redo until killed; one JSON line before and after each call."""
    rng = random.Random(seed)
    project = Project.open(project_path)
    image_ids = [image_id for image_id, *_ in project.image_files()]
    class_ids = [record.id for record in project.classes()]
    say({"ready": True})
    while True:
        roll = rng.random()
        if roll < 0.25 and top_is_label_action(project):
            say({"intent": {"op": "undo"}})
            action = project.undo()
            say({"ack": {"op": "undo", "text": action.text}})
        elif roll < 0.4 and project.can_redo():
            say({"intent": {"op": "redo"}})
            action = project.redo()
            say({"ack": {"op": "redo", "text": action.text}})
        else:
            ids = rng.sample(image_ids, rng.randint(1, 3))
            class_id = rng.choice([*class_ids, None])
            op = {"op": "label", "ids": ids, "class_id": class_id}
            say({"intent": op})
            action = project.set_labels(ids, class_id)
            say({"ack": {**op, "text": action.text}})


def top_is_label_action(project: Project) -> bool:
    index = project.history_index()
    return index > 0 and is_label_action(project.history()[index - 1].text)


def say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# The parent's model of what the project must contain


@dataclass(frozen=True)
class ModelAction:
    text: str | None  # None until the store's text is known (an action caught in flight)
    changes: tuple[tuple[int, int | None, int | None], ...]  # (image, before, after)


@dataclass(frozen=True)
class Expected:
    """Labels and undo history as the acknowledged actions say they must be."""

    labels: Labels
    actions: tuple[ModelAction, ...]
    applied: int

    def apply(self, op: dict) -> Expected:
        if op["op"] == "label":
            return self._record(op["ids"], op["class_id"], op.get("text"))
        if op["op"] == "undo":
            action = self.actions[self.applied - 1]
            labels = {**self.labels, **{image: before for image, before, _ in action.changes}}
            return replace(self, labels=labels, applied=self.applied - 1)
        action = self.actions[self.applied]
        labels = {**self.labels, **{image: after for image, _, after in action.changes}}
        return replace(self, labels=labels, applied=self.applied + 1)

    def _record(self, ids: list[int], class_id: int | None, text: str | None) -> Expected:
        changes = tuple((i, self.labels[i], class_id) for i in ids if self.labels[i] != class_id)
        actions = (*self.actions[: self.applied], ModelAction(text, changes))
        forget = max(0, len(actions) - HISTORY_LIMIT)
        labels = {**self.labels, **{image: class_id for image in ids}}
        return Expected(labels, actions[forget:], len(actions) - forget)

    def with_texts(self, texts: list[str]) -> Expected:
        actions = tuple(replace(a, text=t) for a, t in zip(self.actions, texts, strict=True))
        return replace(self, actions=actions)


@dataclass(frozen=True)
class Actual:
    labels: Labels
    texts: list[str]
    applied: int
    integrity: str


def read_actual(project_path: Path, image_ids: list[int]) -> Actual:
    """The project as a fresh process sees it: raw SQLite for data, the store for history."""
    conn = sqlite3.connect(project_path)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        stored = dict(conn.execute("SELECT image_id, class_id FROM labels"))
    finally:
        conn.close()
    with Project.open(project_path) as project:
        texts = [action.text for action in project.history()]
        applied = project.history_index()
    return Actual({i: stored.get(i) for i in image_ids}, texts, applied, integrity)


def matches(expected: Expected, actual: Actual) -> bool:
    if expected.labels != actual.labels or expected.applied != actual.applied:
        return False
    if len(expected.actions) != len(actual.texts):
        return False
    return all(a.text in (None, t) for a, t in zip(expected.actions, actual.texts, strict=True))


# ---------------------------------------------------------------------------------------------
# The parent: start, kill, check


@dataclass
class StressResult:
    kills: int = 0
    acknowledged: int = 0
    committed_in_flight: int = 0
    lost: int = 0
    integrity_failures: int = 0
    hangs: int = 0
    history_consistent: bool = True
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.integrity_failures or self.hangs) and self.history_consistent


def set_up_project(project_path: Path) -> tuple[list[int], Expected]:
    with Project.open(project_path) as project:
        files = [FoundFile(f"/photos/img_{n:03d}.jpg", 1000 + n, 0.0) for n in range(N_IMAGES)]
        image_ids = project.add_images(files)
        for name in CLASS_NAMES:
            project.add_class(name)
        texts = [action.text for action in project.history()]
    set_up = tuple(ModelAction(text, ()) for text in texts)
    return image_ids, Expected(dict.fromkeys(image_ids), set_up, len(set_up))


class ChildFailed(RuntimeError):
    """The child stopped without being killed: the store raised, so the stress proves nothing."""


def kill_once(
    project_path: Path, seed: int, rng: random.Random
) -> tuple[list[dict], dict | None, bool]:
    """One child life: returns its acknowledged ops, the op in flight (if any), and hung-or-not."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(project_path), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    hung = threading.Event()
    watchdog = threading.Timer(HANG_SECONDS, lambda: (hung.set(), child.kill()))
    watchdog.start()
    acks_before_kill = rng.choice([-1, *range(0, 30)])  # -1: kill while it is still starting
    if acks_before_kill < 0:
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
    lines: list[str] = []
    n_acks = 0
    for line in child.stdout:
        lines.append(line)
        n_acks += '"ack"' in line
        if n_acks >= acks_before_kill >= 0 and child.poll() is None:
            time.sleep(rng.uniform(0.0, 0.004))  # land somewhere inside the next call
            child.send_signal(signal.SIGKILL)
            acks_before_kill = -2
    child.wait()
    watchdog.cancel()
    if child.returncode != -signal.SIGKILL:
        raise ChildFailed(f"the labelling child exited by itself (code {child.returncode})")
    acked: list[dict] = []
    in_flight: dict | None = None
    for line in lines:
        if not line.endswith("\n"):
            break  # cut off mid-line: not acknowledged
        message = json.loads(line)
        if "intent" in message:
            in_flight = message["intent"]
        elif "ack" in message:
            acked.append(message["ack"])
            in_flight = None
    return acked, in_flight, hung.is_set()


def check_history_replays(
    project_path: Path, expected: Expected, image_ids: list[int]
) -> str | None:
    """Undo every label action, then redo them all: each end must be what the model says."""
    undone = expected
    with Project.open(project_path) as project:
        while undone.applied and is_label_action(undone.actions[undone.applied - 1].text or ""):
            project.undo()
            undone = undone.apply({"op": "undo"})
    if read_actual(project_path, image_ids).labels != undone.labels:
        return "undoing every label action did not give the labels from before them"
    with Project.open(project_path) as project:
        for _ in range(expected.applied - undone.applied):
            project.redo()
    if read_actual(project_path, image_ids).labels != expected.labels:
        return "redoing the undone actions did not give back the labels"
    return None


def run_stress(kills: int, seed: int, workdir: Path) -> StressResult:
    rng = random.Random(seed)
    project_path = workdir / "stress.pigeonhole"
    image_ids, expected = set_up_project(project_path)
    result = StressResult()
    started = time.monotonic()
    for kill in range(kills):
        acked, in_flight, hung = kill_once(project_path, rng.randrange(2**31), rng)
        result.kills += 1
        result.hangs += hung
        result.acknowledged += len(acked)
        for op in acked:
            expected = expected.apply(op)
        actual = read_actual(project_path, image_ids)
        if actual.integrity != "ok":
            result.integrity_failures += 1
            result.problems.append(f"kill {kill}: integrity_check says {actual.integrity}")
        candidates = [expected] + ([expected.apply(in_flight)] if in_flight else [])
        found = next((c for c in candidates if matches(c, actual)), None)
        if found is None:
            result.lost += 1
            result.problems.append(
                f"kill {kill}: the project does not match the acknowledged actions"
            )
            expected = Expected(
                actual.labels, tuple(ModelAction(t, ()) for t in actual.texts), actual.applied
            )
            continue
        result.committed_in_flight += found is not expected
        expected = found.with_texts(actual.texts)
    problem = check_history_replays(project_path, expected, image_ids)
    if problem:
        result.history_consistent = False
        result.problems.append(problem)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, help="keep the project here (default: a temp folder)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.seed)
        return 0
    with tempfile.TemporaryDirectory(prefix="pigeonhole-stress-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_stress(args.kills, args.seed, workdir)
    if args.json:
        print(json.dumps({**asdict(result), "ok": result.ok}))
    else:
        print(
            f"{result.kills} kills, {result.acknowledged} acknowledged actions "
            f"({result.committed_in_flight} more committed in flight), {result.lost} lost, "
            f"{result.integrity_failures} integrity failures, {result.hangs} hangs, "
            f"undo history {'consistent' if result.history_consistent else 'INCONSISTENT'} "
            f"({result.seconds} s)"
        )
        for problem in result.problems:
            print("  " + problem)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
