"""How the Ray engine cuts its input into blocks: whole batches, every row once, enough blocks
that no actor sits idle at the end (no Ray cluster needed, so these run with the fast tests)."""

from __future__ import annotations

import pytest

from desktop.cluster.pipeline import input_blocks

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (cluster extra)")


def table(rows: int) -> pa.Table:
    return pa.table({"index": pa.array(range(rows), pa.int64())})


@pytest.mark.parametrize(
    ("rows", "workers", "batch"), [(2000, 2, 8), (500, 2, 8), (37, 2, 8), (1, 4, 32), (0, 2, 8)]
)
def test_blocks_cover_every_row_once_in_order_in_whole_batches(rows, workers, batch) -> None:
    blocks = input_blocks(table(rows), workers, batch)
    assert [i for block in blocks for i in block["index"].to_pylist()] == list(range(rows))
    assert all(block.num_rows % batch == 0 for block in blocks[:-1])


def test_two_workers_get_many_small_blocks_to_share_out() -> None:
    blocks = input_blocks(table(2000), 2, 8)
    assert len(blocks) >= 2 * 16 - 1
    assert max(block.num_rows for block in blocks) == 64


def test_a_huge_input_is_bounded_per_block_not_per_worker_count() -> None:
    blocks = input_blocks(table(1_000_000), 2, 8)
    assert max(block.num_rows for block in blocks) == 1024
