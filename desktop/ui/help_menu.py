"""Help → Keyboard Shortcuts and Help → About: what every key does, the class keys included.

The shortcut list is built from the window's real actions and the project's real class keys, so
it cannot drift from what the keys do.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from desktop.core.class_keys import KEY_ORDER
from desktop.ui.plain_text import message_box

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

INFO = QMessageBox.Icon.Information
GRID_KEYS = [
    ("Enter", "accept the prediction of the selection"),
    ("Backspace / Delete", "clear the label of the selection"),
    ("Arrows, Shift+arrows", "move, extend the selection"),
    ("A / K (Review list)", "accept the suggestion / keep the label"),
]


def shortcut_rows(window: MainWindow) -> list[tuple[str, str]]:
    """(keys, what they do): the class keys first, then the grid's keys, then every menu item."""
    keys = window.session.class_keys()
    rows = [
        (str(keys[c.id]), f"label the selection {c.name}")
        for c in sorted(
            (c for c in window.session.classes() if c.id in keys),
            key=lambda c: KEY_ORDER.index(keys[c.id]),
        )
    ]
    unkeyed = [c.name for c in window.session.classes() if c.id not in keys]
    if unkeyed:
        rows.append(("Ctrl+L", f"label as any class, also {', '.join(unkeyed[:5])}…"))
    if not rows:
        rows.append(("1-9, 0", "label as a class, once there are classes (Classes panel)"))
    rows += GRID_KEYS
    seen: set[str] = set()
    for action in window.findChildren(QAction):
        keys_text = ", ".join(
            s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
        )
        name = action.text().replace("&", "").split("\t")[0]
        if keys_text and name and (keys_text, name) not in seen:
            seen.add((keys_text, name))  # type: ignore[arg-type]
            rows.append((keys_text, name))
    return rows


def show_shortcuts(window: MainWindow) -> QDialog:
    dialog = QDialog(window)
    dialog.setWindowTitle("Keyboard shortcuts")
    rows = shortcut_rows(window)
    table = QTableWidget(len(rows), 2, dialog)
    table.setHorizontalHeaderLabels(["Keys", "Does"])
    for row, (keys, text) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(keys))  # items are plain text, never markup
        table.setItem(row, 1, QTableWidgetItem(text))
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(520, 480)
    dialog.show()
    return dialog


def about_text() -> str:
    try:
        version = metadata.version("pigeonhole")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    return (
        f"Pigeonhole {version}\n\nSorts images into your own classes: drop folders, fix the "
        "model's guesses with the keyboard, retrain on your fixes. Labels live in one SQLite "
        "project file; images are never changed, moved or deleted."
    )


def add_to(window: MainWindow, menu: QMenu) -> dict[str, QAction]:
    """Help → Keyboard Shortcuts (F1) and Help → About Pigeonhole."""
    shortcuts = menu.addAction("Keyboard Shortcuts")
    shortcuts.setShortcut(QKeySequence("F1"))
    shortcuts.triggered.connect(lambda _=False: show_shortcuts(window))
    about = menu.addAction("About Pigeonhole")
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about.triggered.connect(
        lambda _=False: message_box(window, INFO, "About Pigeonhole", about_text()).exec()
    )
    return {"Keyboard Shortcuts": shortcuts, "About Pigeonhole": about}
