"""Names from files, CSVs and other people are shown as text, never rendered as HTML.

A file named ``<img src=&#47;tmp&#47;secret.png>.png`` (``&#47;`` is how HTML spells '/', and a
file name cannot hold a real one) used to show that local picture inside the preview's title.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox

from desktop.ui.main_window import MainWindow

HOSTILE_FILE = "<img src=&#47;tmp&#47;secret.png>.png"
HOSTILE_CLASS = '<b>bold</b><a href="https://evil.example">x</a>'


def shown_as(text: str) -> str:
    """What Qt draws for a string that decides its own format (tooltips, AutoText labels)."""
    document = QTextDocument()
    if GuiQt.mightBeRichText(text):
        document.setHtml(text)
    else:
        document.setPlainText(text)
    return document.toPlainText()


def add_hostile_file(window, tmp_path: Path, wait_idle) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    path = folder / HOSTILE_FILE
    Image.new("RGB", (16, 16), "green").save(path, format="PNG")
    window.ingest.add_paths([folder])
    wait_idle(window)
    window.view.select_row(0)
    window.show_current()
    return path


def test_a_file_named_like_html_shows_its_name_in_the_preview_and_tooltip(
    window, tmp_path, wait_idle
):
    path = add_hostile_file(window, tmp_path, wait_idle)
    title = window.preview.title
    assert title.textFormat() == Qt.TextFormat.PlainText
    assert title.text() == HOSTILE_FILE
    tip = window.grid.data(window.grid.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert shown_as(tip) == str(path)


def test_class_names_with_markup_are_plain_in_every_label_of_the_preview(
    window, tmp_path, wait_idle
):
    add_hostile_file(window, tmp_path, wait_idle)
    window.session.add_class(HOSTILE_CLASS)
    class_id = window.session.require().class_by_name(HOSTILE_CLASS).id
    window.session.label([window.current_image_id()], class_id)
    window.show_current()
    outside_text = [label for label in window.preview.findChildren(QLabel)
                    if HOSTILE_CLASS in label.text() or HOSTILE_FILE in label.text()]  # fmt: skip
    assert len(outside_text) == 2  # the title and the Label field
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in outside_text)
    assert window.preview.field("Label").startswith(HOSTILE_CLASS)


def answer_next_dialog(seen: list[tuple[Qt.TextFormat, str]]) -> None:
    """Record the modal dialog that opens next (its text format and text), then close it."""

    def grab() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, grab)
            return
        if isinstance(dialog, QMessageBox):
            seen.append((dialog.textFormat(), dialog.text()))
        else:
            labels = dialog.findChildren(QLabel)
            seen.extend((label.textFormat(), label.text()) for label in labels if label.text())
        dialog.done(QDialog.DialogCode.Rejected)

    QTimer.singleShot(20, grab)


def test_message_boxes_and_prompts_show_names_as_plain_text(window):
    message = f"There is already a class called {HOSTILE_CLASS}."
    for show in (
        lambda: MainWindow.show_error(window, message),
        lambda: MainWindow.inform(window, "Labels imported", message),
        lambda: MainWindow.ask(window, "Delete class", message),
        lambda: MainWindow.get_text(window, "Rename class", message),
        lambda: MainWindow.choose_item(window, "Merge class", message, ["a", "b"]),
    ):
        seen: list[tuple[Qt.TextFormat, str]] = []
        answer_next_dialog(seen)
        show()
        assert (Qt.TextFormat.PlainText, message) in seen


def test_a_csv_naming_files_outside_its_folder_asks_first(window, tmp_path):
    share = tmp_path / "share"
    (share / "pics").mkdir(parents=True)
    Image.new("RGB", (8, 8), "blue").save(share / "pics" / "a.png")
    (tmp_path / "private").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "private" / "secret.png")
    table = share / "labels.csv"
    table.write_text("path,label\npics/a.png,cat\n../private/secret.png,cat\n")
    questions: list[str] = []
    answers = iter([True, False])  # create the class "cat": yes; add the outside file: no
    window.ask = lambda title, question: questions.append(question) or next(answers)
    window.ingest.add_paths([table])
    assert str(tmp_path / "private" / "secret.png") in questions[1]
    with sqlite3.connect(window.session.path) as conn:
        paths = [row[0] for row in conn.execute("SELECT path FROM images")]
    assert paths == [str(share / "pics" / "a.png")]
    assert window.infos and "left out" in window.infos[-1]
