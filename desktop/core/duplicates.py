"""Groups of copies of one image, their labels, and the user's "keep this one" decision.

Exact duplicates are images with one content key. Near-duplicates (resized or recompressed
copies, found from embeddings elsewhere) join in through ``merge_groups``: any iterable of id
groups is unioned with the exact ones, so every caller (the Duplicates view, the training
manifest) sees the same groups. A group's key is the smallest content key among its members, so
it does not change when files move, and the trainer keeps a group in one split.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop.core.errors import InvalidAction
from desktop.core.history import ChangeSet


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Images that are one picture; ``labels[i]`` is the class name of ``image_ids[i]``."""

    key: str
    image_ids: tuple[int, ...]
    labels: tuple[str | None, ...]
    marked: frozenset[int]
    """Members the user marked "duplicate" (they kept another one)."""
    near: bool = False
    """Some members are near copies (alike by embedding), not byte-for-byte the same file."""

    @property
    def disagree(self) -> bool:
        """Members carry different labels: one of them is wrong, or the classes overlap."""
        return len({label for label in self.labels if label is not None}) > 1

    @property
    def resolved(self) -> bool:
        """All but one member are marked duplicate."""
        return len(self.marked) >= len(self.image_ids) - 1


def exact_groups(conn: sqlite3.Connection) -> dict[str, list[int]]:
    """content key -> ids of the images sharing it, for keys held by two or more images."""
    rows = conn.execute(
        "SELECT content_key, id FROM images WHERE content_key IN (SELECT content_key FROM images "
        "WHERE content_key IS NOT NULL GROUP BY content_key HAVING count(*) > 1) "
        "ORDER BY content_key, id"
    )
    groups: dict[str, list[int]] = {}
    for key, image_id in rows:
        groups.setdefault(key, []).append(image_id)
    return groups


def merge_groups(
    keys: dict[int, str], groups: Iterable[Sequence[int]], extra: Iterable[Sequence[int]] = ()
) -> dict[int, str]:
    """Union ``groups`` with ``extra`` (near-duplicates): image id -> the merged group's key.

    ``keys`` gives each image's own content key; a merged group takes its members' smallest one.
    Images in no group are absent from the result.
    """
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for group in [*groups, *extra]:
        members = list(group)
        for other in members[1:]:
            parent[find(other)] = find(members[0])
    members_of: dict[int, list[int]] = {}
    for image_id in list(parent):
        members_of.setdefault(find(image_id), []).append(image_id)
    merged: dict[int, str] = {}
    for members in members_of.values():
        named = [keys[i] for i in members if keys.get(i)]
        key = min(named) if named else f"image:{min(members)}"
        merged.update(dict.fromkeys(members, key))
    return merged


def duplicate_groups(
    conn: sqlite3.Connection, extra: Iterable[Sequence[int]] = ()
) -> list[DuplicateGroup]:
    """Every group of two or more images, with labels and marks, largest first."""
    exact = exact_groups(conn)
    keys = {i: key for key, ids in exact.items() for i in ids}
    extra = [list(group) for group in extra]
    for chunk in extra:
        for image_id, key in _keys_of(conn, chunk).items():
            keys.setdefault(image_id, key)
    merged = merge_groups(keys, exact.values(), extra)
    members: dict[str, list[int]] = {}
    for image_id, key in sorted(merged.items()):
        members.setdefault(key, []).append(image_id)
    labels = dict(
        conn.execute("SELECT l.image_id, c.name FROM labels l JOIN classes c ON c.id = l.class_id")
    )
    marked = {row[0] for row in conn.execute("SELECT image_id FROM duplicate_marks")}
    groups = [
        DuplicateGroup(
            key,
            tuple(ids),
            tuple(labels.get(i) for i in ids),
            frozenset(i for i in ids if i in marked),
            near=len({keys.get(i) for i in ids}) > 1 or None in {keys.get(i) for i in ids},
        )
        for key, ids in members.items()
        if len(ids) > 1
    ]
    return sorted(groups, key=lambda g: (-len(g.image_ids), g.key))


def _keys_of(conn: sqlite3.Connection, image_ids: list[int]) -> dict[int, str]:
    marks = ",".join("?" * len(image_ids))
    rows = conn.execute(
        f"SELECT id, content_key FROM images WHERE id IN ({marks}) AND content_key IS NOT NULL",
        image_ids,
    )
    return dict(rows)


def keep_one(changes: ChangeSet, group: DuplicateGroup, kept_id: int) -> int:
    """Mark every other member of ``group`` a duplicate of ``kept_id``; returns how many."""
    if kept_id not in group.image_ids:
        raise InvalidAction("That image is not in this group of copies.")
    afters: dict[int, dict[str, object] | None] = {kept_id: None}
    for image_id in group.image_ids:
        if image_id != kept_id:
            afters[image_id] = {"image_id": image_id, "kept_id": kept_id}
    changes.put_many("duplicate_marks", afters)
    return len(afters) - 1


def keep_copy(changes: ChangeSet, image_id: int, extra: Iterable[Sequence[int]]) -> str:
    """Keep ``image_id`` and mark the other members of its group (exact copies merged with
    ``extra``) duplicates; returns the undoable action's text."""
    group = next(
        (g for g in duplicate_groups(changes.conn, extra) if image_id in g.image_ids), None
    )
    if group is None:
        raise InvalidAction("This image has no copies in the project.")
    n = keep_one(changes, group, image_id)
    return f"Keep one of {n + 1} copies, mark {n} duplicate" + ("s" if n != 1 else "")
