"""The time budget is an upper bound: no epoch starts that would end past the deadline."""

from __future__ import annotations

import keras

from trainer.fit import Deadline


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_epoch(deadline: Deadline, clock: Clock, seconds: float) -> None:
    deadline.on_epoch_begin(0)
    clock.now += seconds
    deadline.on_epoch_end(0)


def test_training_stops_before_an_epoch_that_would_overrun() -> None:
    clock = Clock()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    deadline = Deadline(100.0, clock)
    model.stop_training = False  # as Model.fit sets it
    deadline.set_model(model)

    run_epoch(deadline, clock, 30)  # ends at 30: another 30 s epoch ends at 60
    run_epoch(deadline, clock, 30)  # ends at 60: another ends at 90
    assert not model.stop_training and not deadline.stopped
    run_epoch(deadline, clock, 20)  # ends at 80: the longest epoch (30 s) would end at 110
    assert model.stop_training and deadline.stopped
    assert clock.now <= 100


def test_no_deadline_never_stops() -> None:
    clock = Clock()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    deadline = Deadline(None, clock)
    model.stop_training = False  # as Model.fit sets it
    deadline.set_model(model)
    run_epoch(deadline, clock, 10_000)
    assert not model.stop_training
