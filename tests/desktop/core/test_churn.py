"""Churn between two versions, checked against a hand count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from desktop.core.churn import prediction_churn


def test_churn_matches_hand_count() -> None:
    labels = {1: "cat", 2: "cat", 3: "dog", 4: "dog", 5: "fish"}
    old = {1: "dog", 2: "cat", 3: "dog", 4: "cat", 5: "cat", 10: "cat", 11: "dog", 12: "fish"}
    new = {
        1: "cat",
        2: "dog",
        3: "dog",
        4: "dog",
        5: "dog",
        10: "cat",
        11: "cat",
        12: "dog",
        13: "x",
    }
    # 1: wrong -> right (fixed); 2: right -> wrong (broken); 3: right both; 4: fixed;
    # 5: wrong both (neither); 10: same; 11, 12: unlabelled and changed; 13: only the new version.
    churn = prediction_churn(old, new, labels)
    assert churn.fixed == {1, 4}
    assert churn.broken == {2}
    assert churn.changed == {11, 12}
    assert churn.compared == 8
    assert churn.summary() == "fixed 2, broke 1, changed 2 unlabelled predictions"


def test_same_predictions_have_no_churn() -> None:
    preds = {1: "a", 2: "b", 3: "a"}
    churn = prediction_churn(preds, dict(preds), {1: "b"})
    assert not churn.fixed and not churn.broken and not churn.changed


ids = st.integers(0, 30)
names = st.sampled_from(["a", "b", "c"])


@given(st.dictionaries(ids, names), st.dictionaries(ids, names), st.dictionaries(ids, names))
def test_churn_sets_partition_sensibly(old, new, labels) -> None:
    churn = prediction_churn(old, new, labels)
    assert not churn.fixed & churn.broken
    assert (churn.fixed | churn.broken) <= labels.keys()
    assert not churn.changed & labels.keys()
    swapped = prediction_churn(new, old, labels)
    assert swapped.fixed == churn.broken and swapped.broken == churn.fixed
    assert swapped.changed == churn.changed
