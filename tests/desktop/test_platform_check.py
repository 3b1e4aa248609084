"""Before Qt starts: missing xcb libraries are named with the Debian packages that ship them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from desktop import platform_check
from desktop.platform_check import message, missing_from_ldd, packages_for, wants_xcb

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f)
"""


def test_the_missing_libraries_are_read_from_ldd_once_each() -> None:
    assert missing_from_ldd(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_each_library_is_named_by_its_debian_package() -> None:
    packages, unknown = packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libodd.so.3"])
    assert packages == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert unknown == ["libodd.so.3"]
    text = message(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in text
    assert "libxcb-cursor0" not in text  # what Qt itself wrongly names


def test_every_package_the_deb_depends_on_for_xcb_is_known() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    debian = pyproject["tool"]["briefcase"]["app"]["pigeonhole"]["linux"]["system"]["debian"]
    assert set(debian["system_runtime_requires"]) <= set(platform_check.DEBIAN_PACKAGES.values())


@pytest.mark.parametrize(
    ("environ", "xcb"),
    [
        ({"DISPLAY": ":0"}, True),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False),
        ({}, False),
        ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, False),
    ],
)
def test_only_a_session_that_would_use_xcb_is_checked(environ, xcb) -> None:
    assert wants_xcb(environ) is xcb


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_this_machines_plugin_is_checked_for_real() -> None:
    """The real plugin through the real ldd: the answer agrees with ldd's own listing."""
    plugin = platform_check.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    listed = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    found = platform_check.missing_libraries(plugin)
    assert set(missing_from_ldd(listed)) <= set(found)
    env = {"DISPLAY": ":99", "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run(
        [sys.executable, "-m", "desktop"], capture_output=True, text=True, env=env, timeout=120
    )
    if found:  # the window must refuse with our message, not Qt's abort
        assert result.returncode == 1
        assert "sudo apt install" in result.stderr and "Aborted" not in result.stderr
