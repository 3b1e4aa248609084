"""The table modules take a connection and leave the transaction to their caller.

That is what lets ``Project`` combine two of them in one transaction: a test here opens the file
the way Project does, runs several table functions in one transaction and rolls it back, and a
fresh connection then finds nothing of it.
"""

from __future__ import annotations

from pathlib import Path

from core_helpers import fresh_rows, make_images

from desktop.core import history, identity_table, images_table, labels_table, meta_table
from desktop.core.connection import open_writable
from desktop.core.store import Project


def test_table_functions_commit_nothing_of_their_own(tmp_path: Path) -> None:
    db = tmp_path / "tables.pigeonhole"
    Project.create(db).close()
    paths = [str(p) for p in make_images(tmp_path / "pics", 2)]
    conn, lock = open_writable(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        ids = images_table.add_batch(conn, images_table.found_rows(paths))
        identity_table.set_content_keys(conn, [(ids[0], "key")])
        meta_table.write_meta(conn, "note", "kept?")
        changes = history.ChangeSet(conn)
        record = labels_table.add_class(changes, "cat")
        labels_table.set_labels(changes, ids, record.id, "user")
        assert len(images_table.image_files(conn)) == 2  # seen inside the transaction
        conn.execute("ROLLBACK")
    finally:
        conn.close()
        lock.release()

    assert fresh_rows(db, "SELECT count(*) FROM images") == [(0,)]
    assert fresh_rows(db, "SELECT count(*) FROM classes") == [(0,)]
    assert fresh_rows(db, "SELECT count(*) FROM meta WHERE key = 'note'") == [(0,)]
    with Project.open(db) as project:
        assert project.image_files() == [] and project.classes() == []
