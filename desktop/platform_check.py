"""Before Qt starts on Linux: does its xcb platform plugin have every library it needs?

When a library is missing, Qt aborts with a message that names at most one package, and often
one already installed (``libxcb-cursor0``) while the real gap is ``libxcb-icccm4``. So before
the QApplication is made, ``ldd`` is asked what the plugin cannot find (and the one library Qt
loads by hand, libxcb-cursor), and the exact Debian/Ubuntu packages to install are named.
Imports only the standard library: it runs before PySide6 loads anything.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
"""The library each package ships, for what the PySide6 wheels' xcb plugin links."""
LOADED_BY_HAND = ("libxcb-cursor.so.0",)
"""Libraries Qt dlopens (so ldd cannot see them) and refuses to start without (Qt >= 6.5)."""
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_from_ldd(output: str) -> list[str]:
    """The libraries ``ldd`` says it cannot find, each once, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """(Debian packages to install, libraries we know no package for)."""
    known = [DEBIAN_PACKAGES[lib] for lib in libraries if lib in DEBIAN_PACKAGES]
    unknown = [lib for lib in libraries if lib not in DEBIAN_PACKAGES]
    return list(dict.fromkeys(known)), unknown


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def missing_libraries(plugin: Path) -> list[str]:
    """What the plugin (and Qt's hand-loaded extras) cannot find on this machine."""
    ldd = shutil.which("ldd")
    missing: list[str] = []
    if ldd is not None:
        result = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False
        )
        missing = missing_from_ldd(result.stdout)
    for library in LOADED_BY_HAND:
        stem = library.removeprefix("lib").split(".so")[0]
        if ctypes.util.find_library(stem) is None and library not in missing:
            missing.append(library)
    return missing


def message(missing: list[str]) -> str:
    packages, unknown = packages_for(missing)
    lines = [
        "Pigeonhole cannot open its window: Qt's X11 (xcb) platform plugin needs libraries this "
        f"system lacks: {', '.join(missing)}.",
    ]
    if packages:
        lines += [
            "On Debian or Ubuntu, install them with:",
            f"  sudo apt install {' '.join(packages)}",
        ]
    if unknown:
        lines.append(f"Find the package of {', '.join(unknown)} with: apt-file search NAME")
    lines.append("(Or run under Wayland: QT_QPA_PLATFORM=wayland pigeonhole.)")
    return "\n".join(lines)


def wants_xcb(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Qt would pick xcb: asked for, or the default on an X11 session (not Wayland or headless)."""
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform:  # "xcb", "xcb:option", or a fallback list "wayland;xcb" (the first is tried)
        return platform.split(";")[0].split(":")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def check_before_qt() -> str | None:
    """The message to print instead of starting, or None when the window can start."""
    if not sys.platform.startswith("linux") or not wants_xcb(os.environ):
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return None  # not the wheel layout (a system Qt): Qt's own message will have to do
    missing = missing_libraries(plugin)
    return message(missing) if missing else None
