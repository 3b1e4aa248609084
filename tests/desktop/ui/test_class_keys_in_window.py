"""Digit classes in the real window: key 7 labels "7", 0 labels "0", Backspace clears, and the
key each class has is the one the Classes panel, the tile menu and Help's list show."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from test_labelling import labels_on_disk

from desktop.ui.help_menu import shortcut_rows
from tests.imagegen import write_dataset


def digit_folders(root: Path) -> Path:
    """Class folders 0-9 with two images each (what a folder of digit scans looks like)."""
    write_dataset(root, per_class=2, side=16)  # circle/square/triangle: renamed below
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        folder.rename(root / f"tmp-{folder.name}")
    shapes = sorted(root.iterdir())
    for digit in range(10):
        target = root / str(digit)
        target.mkdir()
        for n, source in enumerate(sorted(shapes[digit % 3].iterdir())[:2]):
            target.joinpath(f"{digit}-{n}{source.suffix}").write_bytes(source.read_bytes())
    for folder in shapes:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    return root


def test_digit_keys_label_the_class_of_that_name(window, tmp_path, qtbot, wait_idle):
    root = digit_folders(tmp_path / "digits")
    window.answers = [False]  # do not import the folders as labels: label by key instead
    window.ingest.add_paths([root])
    wait_idle(window)
    for digit in (3, 1, 4, 5, 9, 2, 6, 8, 7, 0):  # created in an order unlike their names
        window.session.add_class(str(digit))
    names = [window.grid.tile_by_id(window.proxy.image_id(r)).name for r in range(20)]
    window.view.setFocus()
    for row, key in enumerate([Qt.Key.Key_1, Qt.Key.Key_9, Qt.Key.Key_0, Qt.Key.Key_7]):
        window.view.select_row(row)
        qtbot.keyClick(window.view, key)
    assert labels_on_disk(window.session.path) == {
        names[0]: "1",
        names[1]: "9",
        names[2]: "0",
        names[3]: "7",
    }
    window.view.select_row(1)
    qtbot.keyClick(window.view, Qt.Key.Key_Backspace)
    assert names[1] not in labels_on_disk(window.session.path)

    panel_texts = [window.classes_panel.list.item(i).text() for i in range(10)]
    assert all(
        text.startswith(f"[{text.split()[1]}]  {text.split()[1]}  (") for text in panel_texts
    )
    menu = window.labelling.build_context_menu().actions()[0].menu()
    assert {a.text() for a in menu.actions()} == {f"{d}\t{d}" for d in range(10)}
    rows = dict(shortcut_rows(window))
    assert all(rows[str(d)] == f"label the selection {d}" for d in range(10))


def test_a_class_past_the_tenth_key_is_reached_by_label_as(window, tmp_path, qtbot, wait_idle):
    write_dataset(tmp_path / "imgs", per_class=1, side=16)
    window.answers = [False]
    window.ingest.add_paths([tmp_path / "imgs"])
    wait_idle(window)
    for i in range(11):
        window.session.add_class(f"kind {i}")
    keys = window.session.class_keys()
    last = window.session.classes()[-1]
    assert last.id not in keys  # ten keys, eleven classes
    item = window.classes_panel.list.item(10)
    assert "Ctrl+L" in item.toolTip()
    offered: list[list[str]] = []

    def choose(title, prompt, items):
        offered.append(items)
        return next(i for i in items if i.endswith("kind 10"))

    window.choose_item = choose
    window.view.select_row(0)
    window.actions["Label As"].trigger()
    assert len(offered[0]) == 11 and offered[0][9] == "[0]  kind 9"
    assert set(labels_on_disk(window.session.path).values()) == {"kind 10"}
    assert ("Ctrl+L", "label as any class, also kind 10…") in shortcut_rows(window)


def test_a_key_with_nothing_selected_says_so_in_the_status_bar(window, tmp_path, qtbot, wait_idle):
    write_dataset(tmp_path / "imgs", per_class=1, side=16)
    window.answers = [False]
    window.ingest.add_paths([tmp_path / "imgs"])
    wait_idle(window)
    window.session.add_class("cat")
    window.view.clearSelection()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert window.errors == []  # no modal warning
    assert "Select one or more images first" in window.statusBar().currentMessage()
    qtbot.keyClick(window.view, Qt.Key.Key_5)
    assert "No class has the key 5" in window.statusBar().currentMessage()
