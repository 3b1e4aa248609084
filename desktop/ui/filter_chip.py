"""The chip above the grid naming a filter the Show box cannot: a confusion cell, a churn set, a
review list. Its ✕ (or Show → anything) goes back to what the filter bar says."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from desktop.ui.filter_proxy import Filter
from desktop.ui.plain_text import plain


def chip_title(active: Filter) -> str | None:
    """The words of the chip for ``active``, or None when the filter bar already shows it."""
    title = getattr(active, "title", "")
    return title if isinstance(title, str) and title else None


class FilterChip(QWidget):
    """Hidden unless a titled filter is on; ``removed`` asks for the filter bar's filter again."""

    removed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        plain(self.label)
        self.label.setStyleSheet(
            "QLabel { background: palette(highlight); color: palette(highlighted-text);"
            " border-radius: 9px; padding: 2px 8px; }"
        )
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Remove this filter: show what the Show box says")
        self.close_button.clicked.connect(self.removed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 2)
        layout.addWidget(QLabel("Filter:"))
        layout.addWidget(self.label)
        layout.addWidget(self.close_button)
        layout.addStretch(1)
        self.setVisible(False)

    def follow(self, active: Filter, shown: int) -> None:
        """Show the chip for a titled filter (with how many images it holds), hide it otherwise."""
        title = chip_title(active)
        if title is not None:
            self.label.setText(f"{title} · {shown:,}")
        self.setVisible(title is not None)

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
