"""A classify run killed with SIGKILL leaves no decoding process behind.

SIGKILL gives the parent no chance to shut its pool down, so the workers must notice by themselves
that their parent is gone. The run is a real child process with real worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # needs the trained tiny model

ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys
    from desktop.core.classify import ClassifyOptions, classify_images
    from desktop.core.inference import open_session
    from desktop.core.model_file import check_model_file

    model, image = sys.argv[1:3]
    session = open_session(check_model_file(model), "cpu")
    items = ((i, image) for i in range(10**9))  # far more work than the test waits for
    for batch in classify_images(session, items, ClassifyOptions(workers=2), total=None):
        print("running", flush=True)
    """
)


def test_decoding_workers_exit_when_classify_is_killed(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    image = tmp_path / "photo.png"
    Image.new("RGB", (256, 256), "teal").save(image)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tiny_model_path), str(image)],
        stdout=subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        text=True,
    )
    left: list[psutil.Process] = []
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "running"
        left = psutil.Process(child.pid).children(recursive=True)
        assert len(left) >= 3  # the fork server and two workers (and the resource tracker)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        _, alive = psutil.wait_procs(left, timeout=10)
        assert not alive, f"{len(alive)} process(es) outlived the killed classify run"
    finally:
        child.kill()
        for process in left:  # only what this test started
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
