"""Other people's strings shown in Qt as text, never as markup.

QLabel, QMessageBox, QInputDialog and tooltips guess: text that looks like HTML is rendered as
HTML (``Qt.mightBeRichText``). A file named ``<img src=&#47;tmp&#47;secret.png>.png`` would then
show a local picture, and a class named ``<a href=...>`` a link. File names, class and model names,
CSV cells and error messages quoting them all come from outside, so every widget that shows them
is told the text is plain; where Qt insists on guessing (tooltips) the text is escaped instead.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox, QWidget

PLAIN = Qt.TextFormat.PlainText


def plain(*labels: QLabel) -> None:
    """Make labels show their text literally, whatever it looks like."""
    for label in labels:
        label.setTextFormat(PLAIN)


def tooltip(text: str) -> str:
    """Tooltip text that shows ``text`` literally: escaped, and marked as rich text so Qt does not
    guess (an escaped ``&lt;`` in text Qt took for plain would show as "&lt;")."""
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"


def message_box(
    parent: QWidget | None,
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
) -> QMessageBox:
    """A message box whose text is plain (QMessageBox.warning and friends guess)."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(PLAIN)
    return box


def input_dialog(parent: QWidget | None, title: str, prompt: str) -> QInputDialog:
    """A QInputDialog whose prompt (it often names a class) is shown as plain text."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(prompt)
    plain(*dialog.findChildren(QLabel))
    return dialog
