"""Labels follow the image, not the path: moves, renames, Locate Folder, duplicates (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.core.errors import InvalidAction
from desktop.core.relink import FilesChecked, check_files, old_folder_for, relink_folder
from desktop.core.scanner import scan_all
from desktop.core.store import Project
from tests.desktop.core.core_helpers import fresh_rows, labels_in_file, make_images
from trainer.identity import content_key


def add_folder(project: Project, folder: Path) -> list[int]:
    return project.add_images(scan_all([folder]).files)


def checked(project: Project) -> FilesChecked:
    return [item for item in check_files(project) if isinstance(item, FilesChecked)][-1]


@pytest.fixture
def labelled(tmp_path: Path):
    """A project with 12 images in a folder, all keyed and labelled cat or dog, one action each."""
    folder = tmp_path / "photos" / "2024"
    paths = make_images(folder, 12)
    project = Project.open(tmp_path / "p.pigeonhole")
    cat, dog = project.add_class("cat"), project.add_class("dog")
    del cat, dog
    ids = add_folder(project, folder)
    assert checked(project).keyed == 12
    classes = {c.name: c.id for c in project.classes()}
    project.set_labels(ids[:8], classes["cat"])
    project.set_labels(ids[8:], classes["dog"])
    yield project, folder, paths, ids
    project.close()


def history_rows(db: Path) -> list[tuple]:
    return fresh_rows(db, "SELECT action_id, seq, tbl, key, before, after FROM history_changes")


def test_a_moved_folder_takes_its_labels_and_history_along(labelled, tmp_path: Path) -> None:
    project, folder, _, ids = labelled
    db = project.path
    labels_before = {i: project.image(i).label_id for i in ids}
    history_before = history_rows(db)
    moved = tmp_path / "tidied" / "holiday"
    shutil.move(folder, moved)
    for path in sorted(moved.glob("img00[0-2]*")):
        path.rename(path.with_name("renamed_" + path.name))

    new_ids = add_folder(project, moved)
    assert set(new_ids).isdisjoint(ids)  # the scan made rows for the files it found
    result = checked(project)

    assert len(result.relinked) == 12 and result.missing == 0
    assert result.message == "12 moved images found again"
    rows = dict(fresh_rows(db, "SELECT id, path FROM images"))
    assert sorted(rows) == sorted(ids)  # the scan's rows were folded into the old images
    assert all(Path(rows[i]).parent == moved for i in ids)
    assert {Path(p).name for p in rows.values()} >= {"renamed_img000.png", "img011.png"}
    assert fresh_rows(db, "SELECT image_id, class_id FROM labels") == sorted(labels_before.items())
    assert history_rows(db) == history_before
    assert len(labels_in_file(db)) == 12

    project.undo()  # the dog labels, on the images at their new place
    assert sorted(labels_in_file(db).values()) == ["cat"] * 8
    project.redo()
    assert sorted(labels_in_file(db).values()).count("dog") == 4


def test_a_copy_is_not_taken_over_while_the_original_is_there(labelled, tmp_path: Path) -> None:
    project, folder, _, _ids = labelled
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    add_folder(project, copy)
    result = checked(project)
    assert result.relinked == [] and result.missing == 0
    groups = project.duplicate_groups()
    assert len(groups) == 12 and all(len(g.image_ids) == 2 for g in groups)


def test_a_labelled_new_row_is_never_folded_away(labelled, tmp_path: Path) -> None:
    project, folder, _, _ids = labelled
    moved = tmp_path / "moved"
    shutil.move(folder, moved)
    new_ids = add_folder(project, moved)
    project.set_labels(new_ids[:1], project.class_by_name("dog").id)
    result = checked(project)
    assert len(result.relinked) == 11 and result.missing == 1
    assert project.image(new_ids[0]).label_id == project.class_by_name("dog").id


def test_locate_folder_relinks_by_relative_path_and_content(labelled, tmp_path: Path) -> None:
    project, folder, paths, ids = labelled
    db = project.path
    new_home = tmp_path / "disk2" / "photos"
    shutil.move(folder.parent, new_home)  # photos/2024 -> disk2/photos/2024
    (new_home / "2024" / "img005.png").rename(new_home / "img005-renamed.png")
    assert checked(project).missing == 12

    old = old_folder_for(str(paths[0]), new_home)
    assert old == str(folder.parent)
    summary = relink_folder(project, old, new_home)

    assert len(summary.relinked) == 12
    assert (summary.by_path, summary.by_content, summary.not_found) == (11, 1, 0)
    assert project.image(ids[5]).path == str(new_home / "img005-renamed.png")
    assert len(labels_in_file(db)) == 12
    assert fresh_rows(db, "SELECT count(*) FROM images WHERE status = 'missing'") == [(0,)]
    project.undo()
    assert len(labels_in_file(db)) == 8


def test_locate_folder_leaves_a_different_file_at_the_same_place(labelled, tmp_path) -> None:
    project, folder, paths, ids = labelled
    new_home = tmp_path / "elsewhere"
    shutil.move(folder, new_home)
    make_images(tmp_path / "other", 1)[0].replace(new_home / "img003.png")  # other content
    checked(project)
    summary = relink_folder(project, folder, new_home)
    assert len(summary.relinked) == 11
    assert (summary.different_content, summary.not_found) == (1, 1)
    assert project.image(ids[3]).status == "missing"
    assert project.image(ids[3]).path == str(paths[3])


def test_keep_one_marks_the_other_copies_and_undoes(labelled, tmp_path: Path) -> None:
    project, _folder, paths, ids = labelled
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(paths[0], copy / "a.png")
    shutil.copy(paths[0], copy / "b.png")
    copy_ids = add_folder(project, copy)
    checked(project)
    project.set_labels(copy_ids[:1], project.class_by_name("dog").id)
    group = next(g for g in project.duplicate_groups() if ids[0] in g.image_ids)
    assert group.key == content_key(paths[0])
    assert group.image_ids == (ids[0], *copy_ids) and group.disagree
    assert group.labels == ("cat", "dog", None)

    project.keep_one(ids[0])
    assert fresh_rows(project.path, "SELECT image_id, kept_id FROM duplicate_marks") == [
        (copy_ids[0], ids[0]),
        (copy_ids[1], ids[0]),
    ]
    assert next(g for g in project.duplicate_groups() if ids[0] in g.image_ids).resolved
    trained = [row[0] for row in project.training_rows()]
    assert str(copy / "a.png") not in trained and str(paths[0]) in trained
    assert all(Path(p).exists() for p in (copy / "a.png", copy / "b.png"))  # never deleted
    project.undo()
    assert fresh_rows(project.path, "SELECT count(*) FROM duplicate_marks") == [(0,)]
    with pytest.raises(InvalidAction, match="no copies"):
        project.keep_one(ids[5])


def test_near_duplicate_groups_merge_through_the_hook(labelled) -> None:
    project, _, _, ids = labelled
    groups = project.duplicate_groups(extra=[(ids[1], ids[2]), (ids[2], ids[3])])
    assert [g.image_ids for g in groups] == [(ids[1], ids[2], ids[3])]
    rows = {path: group for path, _, group, _ in project.training_rows(extra=[(ids[1], ids[2])])}
    keys = [project.content_key(i) for i in (ids[1], ids[2])]
    assert rows[project.image(ids[1]).path] == rows[project.image(ids[2]).path] == min(keys)


def test_a_file_changed_in_place_is_keyed_again(labelled) -> None:
    project, _, paths, ids = labelled
    before = project.content_key(ids[0])
    paths[0].write_bytes(paths[1].read_bytes())  # now a copy of the second image
    checked(project)
    assert project.content_key(ids[0]) == project.content_key(ids[1]) != before
    assert project.image(ids[0]).label_id is not None  # its label stays with the image
