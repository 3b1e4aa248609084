"""Label CSVs in every shape users bring them, exports, and the trainer's manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from core_helpers import fresh_rows, labels_in_file, make_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.csv_io import (
    export_csv,
    format_topk,
    import_label_csv,
    parse_topk,
    read_label_csv,
    write_training_manifest,
)
from desktop.core.errors import CsvError, ExportError, ProjectError
from desktop.core.records import PredictionRow
from desktop.core.store import Project
from trainer.contract import ModelInfo
from trainer.data import list_labelled_files


@pytest.fixture
def pics(tmp_path: Path) -> list[Path]:
    return make_images(tmp_path / "pics", 4)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "p.pigeonhole"


@pytest.fixture
def project(db: Path):
    with Project.open(db) as opened:
        opened.add_class("cat")
        opened.add_class("dog")
        yield opened


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_bom_relative_paths_and_extra_columns(project, db, pics, tmp_path) -> None:
    csv_path = write(
        tmp_path / "labels.csv",
        "notes,label,path\nfirst,cat,pics/img000.png\n,dog,pics/img001.png\n",
        "utf-8-sig",
    )
    summary = import_label_csv(project, csv_path)
    assert (summary.n_rows, summary.n_labelled, summary.n_skipped) == (2, 2, 0)
    assert summary.n_images_added == 2
    assert labels_in_file(db) == {str(pics[0]): "cat", str(pics[1]): "dog"}
    assert fresh_rows(db, "SELECT DISTINCT source FROM labels") == [("import",)]
    assert project.history()[-1].text == "Import labels from labels.csv"


def test_windows_1252_semicolons_and_no_header(project, db, tmp_path) -> None:
    (image,) = make_images(tmp_path / "café", 1, prefix="crème")
    project.rename_class(project.class_by_name("cat").id, "chaton é")
    csv_path = write(tmp_path / "l.csv", f"{image};chaton é\r\n", "cp1252")
    table = read_label_csv(csv_path)
    assert table.encoding == "cp1252"
    import_label_csv(project, csv_path)
    assert labels_in_file(db) == {str(image): "chaton é"}


def test_utf16_with_bom(project, db, pics, tmp_path) -> None:
    csv_path = write(tmp_path / "l.csv", f"path\tlabel\n{pics[0]}\tdog\n", "utf-16")
    import_label_csv(project, csv_path)
    assert labels_in_file(db) == {str(pics[0]): "dog"}


def test_unknown_classes_are_reported_then_created_on_request(project, db, pics, tmp_path):
    csv_path = write(tmp_path / "l.csv", f"path,label\n{pics[0]},bird\n{pics[1]},cat\n")
    preview = import_label_csv(project, csv_path, dry_run=True)
    assert preview.unknown_classes == ["bird"]
    assert preview.n_labelled == 1 and preview.skipped_by_reason() == {"unknown class": 1}
    assert fresh_rows(db, "SELECT count(*) FROM labels") == [(0,)]  # a dry run changes nothing
    assert fresh_rows(db, "SELECT count(*) FROM images") == [(0,)]
    summary = import_label_csv(project, csv_path, create_classes=True)
    assert (summary.n_labelled, summary.n_classes_created) == (2, 1)
    assert labels_in_file(db) == {str(pics[0]): "bird", str(pics[1]): "cat"}
    project.undo()  # the whole import, classes included, is one action
    assert fresh_rows(db, "SELECT count(*) FROM labels") == [(0,)]
    assert [c.name for c in project.classes()] == ["cat", "dog"]


def test_bad_rows_are_skipped_with_reasons_and_duplicates_last_win(project, db, pics, tmp_path):
    csv_path = write(
        tmp_path / "l.csv",
        "path,label\n"
        f"{pics[0]},cat\n"
        f"{pics[0]},dog\n"  # duplicate: the last one wins
        f"{pics[1]},\n"  # no label
        f"{pics[2]}\n"  # missing column
        ",cat\n"  # no path
        f"{tmp_path / 'gone.png'},cat\n"  # file not found
        "\n",
    )
    summary = import_label_csv(project, csv_path)
    assert summary.n_duplicates == 1 and summary.n_labelled == 1
    assert summary.skipped_by_reason() == {
        "no label": 1,
        "missing label column": 1,
        "no path": 1,
        "file not found": 1,
    }
    assert labels_in_file(db) == {str(pics[0]): "dog"}


def test_files_not_in_the_project_can_be_refused(project, db, pics, tmp_path) -> None:
    csv_path = write(tmp_path / "l.csv", f"path,label\n{pics[0]},cat\n")
    summary = import_label_csv(project, csv_path, add_new_images=False)
    assert summary.skipped_by_reason() == {"not in the project": 1}
    assert summary.action is None
    assert fresh_rows(db, "SELECT count(*) FROM images") == [(0,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"path,label\n", "no rows"),
        (b"name,notes\nfoo,bar\n", "first row should name"),
        (b"path,notes\nx.png,bar\n", "both a path and a label"),
        (b"\x00\x01\x02binary\x00", "binary"),
    ],
)
def test_unusable_files_are_refused_with_a_message(project, db, tmp_path, content, message):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_bytes(content)
    with pytest.raises(CsvError, match=message):
        import_label_csv(project, csv_path)
    with pytest.raises(CsvError, match="does not exist"):
        import_label_csv(project, tmp_path / "missing.csv")
    with pytest.raises(CsvError, match="folder"):
        import_label_csv(project, tmp_path)
    assert fresh_rows(db, "SELECT count(*) FROM history") == [(2,)]


def test_an_import_is_never_half_applied(project, db, pics, tmp_path) -> None:
    project.add_images(pics)
    lines = "".join(f"{p},cat\n" for p in pics)
    csv_path = write(tmp_path / "l.csv", "path,label\n" + lines)
    pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
    project._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now "full"
    big = [
        *((p, "cat") for p in pics),
        *((tmp_path / f"{i}.png", "x" * 90 + str(i)) for i in range(800)),
    ]
    with pytest.raises(ProjectError, match="disk is full"):
        project.import_labels(big, create_classes=True)
    assert fresh_rows(db, "SELECT count(*) FROM labels") == [(0,)]
    assert fresh_rows(db, "SELECT count(*) FROM classes") == [(2,)]
    project._conn.execute("PRAGMA max_page_count = 1073741823")
    assert import_label_csv(project, csv_path).n_labelled == 4


def add_predictions(project: Project, ids: list[int]) -> None:
    info = ModelInfo(["cat", "dog"], 32, "tiny", "t")
    model_id = project.add_model("/m.onnx", info, {})
    rows = [PredictionRow.from_probs(i, [0.9 - 0.3 * n, 0.1 + 0.3 * n]) for n, i in enumerate(ids)]
    project.set_predictions(model_id, rows)


def test_export_has_labels_predictions_and_top_k(project, pics, tmp_path) -> None:
    ids = project.add_images(pics)
    project.set_labels(ids[:1], project.class_by_name("dog").id)
    add_predictions(project, ids[:3])
    out = tmp_path / "out.csv"
    assert export_csv(project, out).n_written == 4
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert list(rows[0]) == ["path", "label", "prediction", "confidence", "top_k", "path_bytes"]
    assert rows[0] == {
        "path": str(pics[0]),
        "label": "dog",
        "prediction": "cat",
        "confidence": "0.9000",
        "top_k": '[["cat", 0.9], ["dog", 0.1]]',
        "path_bytes": "",  # filled in only for names that are not UTF-8
    }
    assert (rows[2]["prediction"], rows[2]["label"]) == ("dog", "")
    assert rows[3]["prediction"] == rows[3]["top_k"] == ""
    with pytest.raises(ExportError, match="folder"):
        export_csv(project, tmp_path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(labels=st.lists(st.sampled_from([None, "cat", "dog", "a;b", "x,y", 'q"uote', "é"]),
                       min_size=4, max_size=4))  # fmt: skip
def test_export_then_import_round_trips(tmp_path_factory, labels) -> None:
    folder = tmp_path_factory.mktemp("rt")
    pics = make_images(folder / "pics", 4)
    with Project.open(folder / "a.pigeonhole") as source:
        ids = source.add_images(pics)
        for image_id, label in zip(ids, labels, strict=True):
            if label is not None:
                if source.class_by_name(label) is None:
                    source.add_class(label)
                source.set_labels([image_id], source.class_by_name(label).id)
        export_csv(source, folder / "export.csv")
    with Project.open(folder / "b.pigeonhole") as target:
        summary = import_label_csv(target, folder / "export.csv", create_classes=True)
        assert summary.n_labelled == sum(label is not None for label in labels)
    assert labels_in_file(folder / "b.pigeonhole") == labels_in_file(folder / "a.pigeonhole")


def test_top_k_text_round_trips() -> None:
    names = ["a:b", "x;y", 'q"uote']
    text = format_topk([(1, 0.91), (0, 0.05), (2, 0.04)], names)
    assert parse_topk(text) == [("x;y", 0.91), ("a:b", 0.05), ('q"uote', 0.04)]
    assert parse_topk("cls2:0.9100;a:b:0.0500") == [("cls2", 0.91), ("a:b", 0.05)]  # older files


HOSTILE_NAMES = ['=HYPERLINK("http://evil.example","x")', "+1", "-2+3", "@SUM(A1)", "'quoted",
                 "''twice", "a;b:c"]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_formula_cells_are_neutralised_and_read_back_exactly(tmp_path) -> None:
    """A class named like a formula is text in a spreadsheet and the same name after import."""
    pics = make_images(tmp_path / "pics", len(HOSTILE_NAMES))
    with Project.open(tmp_path / "a.pigeonhole") as source:
        ids = source.add_images(pics)
        for image_id, name in zip(ids, HOSTILE_NAMES, strict=True):
            source.add_class(name)
            source.set_labels([image_id], source.class_by_name(name).id)
        info = ModelInfo(HOSTILE_NAMES, 32, "tiny", "t")
        model_id = source.add_model("/m.onnx", info, {})
        k = len(HOSTILE_NAMES)
        rows = [PredictionRow.from_probs(i, [0.5 if c == n else 0.5 / k for c in range(k)])
                for n, i in enumerate(ids)]  # fmt: skip
        source.set_predictions(model_id, rows)
        export_csv(source, tmp_path / "export.csv")
    raw = list(csv.reader((tmp_path / "export.csv").open(encoding="utf-8", newline="")))
    cells = [cell for row in raw[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    exported = list(csv.DictReader((tmp_path / "export.csv").open(encoding="utf-8", newline="")))
    assert sorted(parse_topk(row["top_k"])[0][0] for row in exported) == sorted(HOSTILE_NAMES)
    with Project.open(tmp_path / "b.pigeonhole") as target:
        import_label_csv(target, tmp_path / "export.csv", create_classes=True)
    assert labels_in_file(tmp_path / "b.pigeonhole") == labels_in_file(tmp_path / "a.pigeonhole")


def test_the_training_manifest_is_read_by_the_trainer(project, pics, tmp_path) -> None:
    ids = project.add_images(pics)
    project.set_labels(ids[:2], project.class_by_name("cat").id)
    project.set_labels(ids[2:], project.class_by_name("dog").id)
    project.mark_unreadable(ids[3], "corrupt")
    manifest = tmp_path / "elsewhere" / "train.csv"
    manifest.parent.mkdir()
    assert write_training_manifest(project, manifest) == 3
    _, samples, classes, _ = list_labelled_files(manifest)
    assert classes == ["cat", "dog"]
    assert sorted((s.path.name, s.label) for s in samples) == [
        ("img000.png", "cat"),
        ("img001.png", "cat"),
        ("img002.png", "dog"),
    ]


def test_no_manifest_without_labels(project, tmp_path) -> None:
    with pytest.raises(ExportError, match="no labelled"):
        write_training_manifest(project, tmp_path / "train.csv")
    assert not (tmp_path / "train.csv").exists()


def test_rows_outside_the_csv_folder_are_listed_and_added_only_on_consent(
    project, db, tmp_path, monkeypatch
) -> None:
    """A shared CSV naming ~/.ssh/id_rsa or ../../etc/shadow does not pull them in unasked."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    monkeypatch.setenv("HOME", str(home))
    private = make_images(tmp_path / "private", 1)[0]
    share = tmp_path / "share" / "labels"
    inside = make_images(share / "pics", 1)[0]
    (share / "link").symlink_to(tmp_path / "private", target_is_directory=True)
    table = write(share / "labels.csv", "path,label\npics/img000.png,cat\n~/.ssh/id_rsa,cat\n"
                  "../../private/img000.png,dog\nlink/img000.png,dog\n")  # fmt: skip
    summary = import_label_csv(project, table)
    assert labels_in_file(db) == {str(inside): "cat"}
    assert sorted(summary.outside) == sorted(
        [str(home / ".ssh" / "id_rsa"), str(private), str(share / "link" / "img000.png")]
    )
    assert fresh_rows(db, "SELECT path FROM images") == [(str(inside),)]
    consented = import_label_csv(project, table, allow_outside=True)
    assert labels_in_file(db) == {
        str(inside): "cat",
        str(private): "dog",
        str(share / "link" / "img000.png"): "dog",
    }
    assert [s.reason for s in consented.skipped if "id_rsa" in s.what] == [
        "not an image (not an image format we can read (unknown or corrupt header))"
    ]
    assert not [p for (p,) in fresh_rows(db, "SELECT path FROM images") if "id_rsa" in p]
