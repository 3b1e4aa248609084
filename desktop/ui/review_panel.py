"""Model → Review: the mistakes first, what to label next, and what the last version changed.

Suspects are labelled images that confident learning says belong elsewhere ("labelled A, looks
like B (v3: 63.0 %)", the version's own probability, as its preview shows). ``A`` accepts the
suggestion, ``K`` keeps the label; either is remembered in the project for that image and label,
so later versions do not ask again until the label changes, and either is undone with Ctrl+Z
like any label, after which the suspect is open again. Above the list, the estimated share of
wrong labels in the noisiest classes. "Label next" and "Uncertain" list unlabelled images; the
churn buttons show what the newest version fixed, broke and changed. Every list can become the
grid's filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import ProjectError
from desktop.core.review import Suspect
from desktop.core.version_review import ReviewData
from desktop.ui.plain_text import plain, tooltip

if TYPE_CHECKING:
    from desktop.ui.session import Session

ACCEPT_KEY = "A"
KEEP_KEY = "K"
_DECISION_KEYS = {Qt.Key.Key_A: "accept", Qt.Key.Key_K: "keep"}
ID_ROLE = Qt.ItemDataRole.UserRole


class SuspectList(QListWidget):
    """The queue; its two decision keys are handled here, before the list's type-to-search."""

    decisionKey = Signal(str)  # "accept" or "keep"

    def keyPressEvent(self, event: QKeyEvent) -> None:
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        decision = _DECISION_KEYS.get(Qt.Key(event.key())) if plain else None
        if decision is None:
            super().keyPressEvent(event)
        else:
            self.decisionKey.emit(decision)


class ReviewPanel(QWidget):
    """``showIds(title, ids)`` asks for a grid filter; ``imageChosen(id)`` to show one image."""

    showIds = Signal(str, list)
    imageChosen = Signal(int)
    suspectShown = Signal(int, str)  # image id, the class it looks like (for its heat map)
    failed = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.data: ReviewData | None = None
        self._filling = False
        """True while lists are refilled: their first row is chosen, not the user's choice."""
        self.decisions: dict[int, tuple[str, int]] = {}
        """image id -> ("accepted" or "kept", the id of the store action that did it)."""
        self._build()
        self.set_data(None)

    def _build(self) -> None:
        self.heading = _plain_label()
        self.noise_label = _plain_label()
        self.churn_label = _plain_label()
        self.fixed_button = QPushButton()
        self.broken_button = QPushButton()
        self.changed_button = QPushButton()
        churn_row = QHBoxLayout()
        for button in (self.fixed_button, self.broken_button, self.changed_button):
            churn_row.addWidget(button)
        self.suspects = SuspectList()
        self.accept_button = QPushButton(f"Accept suggestion ({ACCEPT_KEY})")
        self.keep_button = QPushButton(f"Keep label ({KEEP_KEY})")
        self.show_suspects = QPushButton("Show in grid")
        self.next_list, self.show_next = QListWidget(), QPushButton("Show in grid")
        self.uncertain_list, self.show_uncertain = QListWidget(), QPushButton("Show in grid")
        self.uncertain_note = _plain_label()
        self.next_note = _plain_label()
        decide = QHBoxLayout()
        for button in (self.accept_button, self.keep_button, self.show_suspects):
            decide.addWidget(button)
        self.heat_view, self.heat_note = QLabel(), _plain_label()  # filled by heat_map_overlay
        beside = QHBoxLayout()
        beside.addWidget(self.heat_view)
        beside.addWidget(self.heat_note, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(_page(self.suspects, beside, decide), "Suspects")
        self.tabs.addTab(_page(self.next_note, self.next_list, self.show_next), "Label next")
        self.tabs.addTab(_page(self.uncertain_note, self.uncertain_list, self.show_uncertain),
                         "Uncertain")  # fmt: skip
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.heading)
        layout.addWidget(self.noise_label)
        layout.addWidget(self.churn_label)
        layout.addLayout(churn_row)
        layout.addWidget(self.tabs, 1)
        self._connect()

    def _connect(self) -> None:
        self.suspects.decisionKey.connect(
            lambda kind: self.accept_current() if kind == "accept" else self.keep_current()
        )
        self.accept_button.clicked.connect(self.accept_current)
        self.keep_button.clicked.connect(self.keep_current)
        self.show_suspects.clicked.connect(lambda: self._show("Review queue", self._suspect_ids()))
        self.show_next.clicked.connect(lambda: self._show("Label next", self._next_ids()))
        self.show_uncertain.clicked.connect(lambda: self._show("Uncertain", self._uncertain_ids()))
        self.fixed_button.clicked.connect(lambda: self._show_churn("fixed"))
        self.broken_button.clicked.connect(lambda: self._show_churn("broken"))
        self.changed_button.clicked.connect(lambda: self._show_churn("changed"))
        for widget in (self.suspects, self.next_list, self.uncertain_list):
            widget.currentItemChanged.connect(self._on_current)
            widget.itemClicked.connect(self._on_current)  # also the row already current

    # --- showing -------------------------------------------------------------------------------
    def set_data(
        self, data: ReviewData | None, message: str = "Model → Review lists the likely mistakes."
    ) -> None:
        self.data = data
        self.decisions.clear()
        if data is None:
            self.heading.setText(message)
        else:
            self.heading.setText(data.suspects_note or _heading(data))
        self.noise_label.setText(data.noise_note if data else "")
        detail = data.noise_detail if data else ""
        self.noise_label.setToolTip(tooltip(detail) if detail else "")
        self._fill_suspects()
        self._fill_ids(self.next_list, data.label_next if data else [])
        self._fill_ids(self.uncertain_list, data.uncertain if data else [])
        self.uncertain_note.setText(data.uncertain_note if data else "")
        self.next_note.setText(data.label_next_note if data else "")
        self._fill_churn()

    def churn_counts(self) -> dict[str, int]:
        churn = self.data.churn if self.data else None
        if churn is None:
            return {}
        return {
            "fixed": len(churn.fixed),
            "broken": len(churn.broken),
            "changed": len(churn.changed),
        }

    def pending(self) -> list[Suspect]:
        """Suspects not yet decided, in queue order."""
        suspects = self.data.suspects if self.data else []
        return [s for s in suspects if s.image_id not in self.decisions]

    def _fill_suspects(self) -> None:
        self._filling = True  # a new queue must not move the grid away from the user's place
        try:
            self.suspects.clear()
            for suspect in self.data.suspects if self.data else []:
                item = QListWidgetItem()
                item.setData(ID_ROLE, suspect.image_id)
                self.suspects.addItem(item)
                self._paint_suspect(item, suspect)
            self._select_next_pending(0)
        finally:
            self._filling = False

    def _paint_suspect(self, item: QListWidgetItem, suspect: Suspect) -> None:
        name = self.data.names.get(suspect.image_id, f"#{suspect.image_id}") if self.data else ""
        decision = self.decisions.get(suspect.image_id)
        done = {"accepted": f"✓ now {suspect.looks_like}", "kept": f"✓ kept {suspect.labelled}"}
        suffix = f"   [{done[decision[0]]}]" if decision else ""
        item.setText(f"{name}: {suspect.describe()}{suffix}")
        item.setForeground(self.palette().placeholderText() if decision else self.palette().text())

    def _fill_ids(self, widget: QListWidget, ids: Sequence[int]) -> None:
        widget.blockSignals(True)  # clearing changes the current item: not a user's choice
        widget.clear()
        widget.blockSignals(False)
        names = self.data.names if self.data else {}
        for image_id in ids:
            item = QListWidgetItem(names.get(image_id, f"#{image_id}"))
            item.setData(ID_ROLE, image_id)
            widget.addItem(item)

    def _fill_churn(self) -> None:
        counts = self.churn_counts()
        self.churn_label.setText(self.data.churn_note if self.data else "")
        texts = {"fixed": "Fixed", "broken": "Broke", "changed": "Changed (unlabelled)"}
        for key, button in self._churn_buttons().items():
            button.setText(f"{texts[key]}: {counts[key]}" if counts else texts[key])
            button.setEnabled(bool(counts.get(key)))

    def _churn_buttons(self) -> dict[str, QPushButton]:
        return {
            "fixed": self.fixed_button,
            "broken": self.broken_button,
            "changed": self.changed_button,
        }

    # --- deciding ------------------------------------------------------------------------------
    def accept_current(self) -> None:
        """Label the current suspect with the suggested class, then go to the next one."""
        self._decide("accepted", lambda s: s.looks_like)

    def keep_current(self) -> None:
        """Confirm the current suspect's label as the user's own, then go to the next one."""
        self._decide("kept", lambda s: s.labelled)

    def _decide(self, kind: str, class_of) -> None:
        suspect = self._current_suspect()
        if suspect is None:
            self.failed.emit("Choose a suspect in the review list first.")
            return
        name = class_of(suspect)
        record = next((c for c in self.session.classes() if c.name == name), None)
        if record is None:
            self.failed.emit(f"The class {name} no longer exists; review again.")
            return
        try:
            action = self.session.decide_review(suspect.image_id, record.id, kind, suspect.model_id)
        except ProjectError as exc:
            self.failed.emit(str(exc))
            return
        self.decisions[suspect.image_id] = (kind, action.id)
        row = self.suspects.currentRow()
        self._paint_suspect(self.suspects.item(row), suspect)
        self._select_next_pending(row + 1)

    def sync_with_history(self, applied_action_ids: set[int]) -> None:
        """After undo/redo: a decision whose action was undone makes its suspect open again."""
        undone = [
            i for i, (_, action) in self.decisions.items() if action not in applied_action_ids
        ]
        for image_id in undone:
            del self.decisions[image_id]
        if undone and self.data is not None:
            for row, suspect in enumerate(self.data.suspects):
                self._paint_suspect(self.suspects.item(row), suspect)
            first = next(i for i, s in enumerate(self.data.suspects) if s.image_id in undone)
            self.suspects.setCurrentRow(first)

    def _current_suspect(self) -> Suspect | None:
        row = self.suspects.currentRow()
        if self.data is None or not 0 <= row < len(self.data.suspects):
            return None
        return self.data.suspects[row]

    def _select_next_pending(self, start: int) -> None:
        suspects = self.data.suspects if self.data else []
        order = list(range(start, len(suspects))) + list(range(0, min(start, len(suspects))))
        row = next((i for i in order if suspects[i].image_id not in self.decisions), None)
        if row is not None:
            self.suspects.setCurrentRow(row)

    # --- filters -------------------------------------------------------------------------------
    def _suspect_ids(self) -> list[int]:
        return [s.image_id for s in self.data.suspects] if self.data else []

    def _next_ids(self) -> list[int]:
        return list(self.data.label_next) if self.data else []

    def _uncertain_ids(self) -> list[int]:
        return list(self.data.uncertain) if self.data else []

    def _show_churn(self, kind: str) -> None:
        churn = self.data.churn if self.data else None
        if churn is not None:
            titles = {"fixed": "Fixed by", "broken": "Broken by", "changed": "Changed by"}
            self._show(f"{titles[kind]} v{self.data.model_id}", sorted(getattr(churn, kind)))

    def _show(self, title: str, ids: list[int]) -> None:
        if not ids:
            self.failed.emit(f"{title}: there are no images in this list.")
            return
        self.showIds.emit(title, ids)

    def _on_current(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            return
        if not self._filling:  # a refilled list shows its first row here, not in the grid
            self.imageChosen.emit(int(item.data(ID_ROLE)))
        suspect = self._current_suspect() if item.listWidget() is self.suspects else None
        if suspect is not None:
            self.suspectShown.emit(suspect.image_id, suspect.looks_like)


def _heading(data: ReviewData) -> str:
    answered = (
        f" {data.settled} answered before (same label) are not asked again." if data.settled else ""
    )
    return (
        f"v{data.model_id}: {len(data.suspects)} labelled image(s) look mislabelled, most "
        f"suspicious first.{answered} {ACCEPT_KEY} accepts the suggestion, {KEEP_KEY} keeps "
        "the label."
    )


def _plain_label() -> QLabel:
    """A wrapping label that never reads class or file names as markup."""
    label = QLabel()
    label.setWordWrap(True)
    plain(label)
    return label


def _page(*parts: QWidget | QHBoxLayout) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(0, 0, 0, 0)
    for part in parts:
        if isinstance(part, QHBoxLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part, 1 if isinstance(part, QListWidget) else 0)
    return page
