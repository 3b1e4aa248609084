"""The installer's configuration, icons, template, sample project and self-test, checked quickly.

The real .deb build takes minutes and gigabytes (packaging/build-deb.sh); these tests check what it
relies on: every icon size Briefcase installs exists at that size, pyproject.toml's Briefcase
sections parse (with Briefcase's own parser) and name the right sources, requirements and system
packages, our template renders, the bundled sample and model agree, and the entry point's
``train`` and ``--self-test`` modes work without TensorFlow in the GUI process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import onnx
import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from PIL import Image

from trainer.contract import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
TEMPLATE = ROOT / "packaging" / "template"
ICON_SIZES = (16, 32, 64, 128, 256, 512)
TARGETS = {
    # Briefcase platform -> the marker environment its builds install for.
    "linux": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "windows": {"sys_platform": "win32", "platform_machine": "AMD64"},
    "macOS": {"sys_platform": "darwin", "platform_machine": "arm64"},
}
EXPECTED_ORT = {"linux": "onnxruntime-gpu", "windows": "onnxruntime-gpu", "macOS": "onnxruntime"}


def briefcase_config() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["briefcase"]


def app_config() -> dict:
    return briefcase_config()["app"]["pigeonhole"]


def run_app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m desktop ARGS`` in a child process, as the installed launcher runs it."""
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        cwd=ROOT,
        env=os.environ | {"QT_QPA_PLATFORM": "offscreen"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# --- icons ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", ICON_SIZES)
def test_every_linux_icon_size_exists_at_that_size(size: int) -> None:
    png = ROOT / f"{app_config()['icon']}-{size}.png"
    with Image.open(png) as image:
        assert image.size == (size, size)
        assert image.mode == "RGBA"


def test_windows_and_macos_icons_hold_their_sizes() -> None:
    stem = ROOT / app_config()["icon"]
    with Image.open(f"{stem}.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(f"{stem}.icns") as icns:
        assert icns.format == "ICNS"
        assert (512, 512, 2) in icns.info["sizes"]


def test_the_template_installs_every_rendered_icon_size() -> None:
    declared = TEMPLATE / "{{ cookiecutter.format }}" / "briefcase.toml"
    paths = tomllib.loads(declared.read_text(encoding="utf-8"))["paths"]
    assert sorted(int(size) for size in paths["icon"]) == list(ICON_SIZES)


def test_render_icons_refuses_a_missing_svg(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from render_icons import RenderError, render_all
    finally:
        sys.path.remove(str(ROOT / "tools"))
    with pytest.raises(RenderError, match="source SVG is missing"):
        render_all(tmp_path / "nope.svg", tmp_path / "icons")
    assert not (tmp_path / "icons").exists()


# --- the Briefcase configuration -----------------------------------------------------------------
def test_sources_are_the_launcher_the_packages_and_the_resources() -> None:
    sources = app_config()["sources"]
    assert [s.rsplit("/", 1)[-1] for s in sources] == [
        "pigeonhole",
        "desktop",
        "trainer",
        "resources",
    ]
    for source in sources:
        assert (ROOT / source).is_dir(), source
    assert (ROOT / sources[0] / "__main__.py").is_file()


def test_license_and_changelog_files_exist() -> None:
    for name in briefcase_config()["license-files"]:
        assert (ROOT / name).is_file(), name
    assert (ROOT / "CHANGELOG.md").is_file()  # `briefcase build linux system` requires one


@pytest.mark.parametrize("platform", sorted(TARGETS))
def test_each_platform_installs_exactly_one_onnx_runtime(platform: str) -> None:
    briefcase = pytest.importorskip("briefcase.config")
    console = pytest.importorskip("briefcase.console").Console()
    _, apps = briefcase.parse_config(
        PYPROJECT, platform=platform, output_format="app", console=console
    )
    requires = [Requirement(r) for r in apps["pigeonhole"]["requires"]]
    environment = TARGETS[platform]
    active = {
        r.name.lower() for r in requires if r.marker is None or r.marker.evaluate(environment)
    }
    runtimes = active & {"onnxruntime", "onnxruntime-gpu"}
    assert runtimes == {EXPECTED_ORT[platform]}
    assert {"pyside6-essentials", "tensorflow", "tf2onnx", "scikit-learn"} <= active


def test_the_app_carries_every_trainer_requirement() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    trainer_needs = {
        Requirement(r).name.lower() for r in project["optional-dependencies"]["trainer"]
    }
    app_needs = {Requirement(r).name.lower() for r in app_config()["requires"]}
    assert trainer_needs <= app_needs


def test_linux_system_uses_our_template_and_names_the_qt_libraries() -> None:
    linux = app_config()["linux"]["system"]
    assert (ROOT / linux["template"] / "cookiecutter.json").is_file()
    runtime = linux["debian"]["system_runtime_requires"]
    assert {"libegl1", "libxkbcommon0", "libfontconfig1", "libxcb-cursor0"} <= set(runtime)
    assert not Marker("sys_platform == 'linux'").evaluate(TARGETS["windows"])  # sanity of TARGETS


def test_briefcase_finalizes_the_debian_configuration(tmp_path: Path) -> None:
    """Briefcase's own finalisation: vendor sections merged, licence normalised, template set."""
    pytest.importorskip("briefcase")
    from briefcase.console import Console
    from briefcase.platforms.linux.system import LinuxSystemCreateCommand

    command = LinuxSystemCreateCommand(console=Console(), base_path=ROOT, data_path=tmp_path)
    command.parse_config(PYPROJECT, overrides={})
    app = command.apps["pigeonhole"]
    app.target_vendor, app.target_codename, app.target_vendor_base = "debian", "bookworm", "debian"
    assert app.template == "packaging/template"
    assert app.license == "Apache-2.0"
    assert app.module_name == "pigeonhole"
    assert "libxcb-cursor0" in app.debian["system_runtime_requires"]


# --- the template ------------------------------------------------------------------------------
def test_the_template_renders_a_debian_bundle(tmp_path: Path) -> None:
    cookiecutter = pytest.importorskip("cookiecutter.main").cookiecutter
    cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(tmp_path),
        extra_context={"format": "bookworm", "python_version": "3.11", "version": "0.1.0"},
    )
    bundle = tmp_path / "bookworm"
    paths = tomllib.loads((bundle / "briefcase.toml").read_text(encoding="utf-8"))["paths"]
    assert paths["app_path"] == "pigeonhole-0.1.0/usr/lib/pigeonhole/app"
    assert (bundle / paths["app_path"]).parent.is_dir()  # Briefcase mkdirs app/ inside it
    launcher = (bundle / "bootstrap" / "main.c").read_text(encoding="utf-8")
    assert '#define APP_MODULE "pigeonhole"' in launcher
    assert '"/usr/lib/python3.11"' in launcher
    makefile = (bundle / "bootstrap" / "Makefile").read_text(encoding="utf-8")
    assert "/usr/bin/python3.11-config" in makefile
    assert "TARGET = ../pigeonhole-0.1.0/usr/bin/pigeonhole" in makefile
    assert "\tinstall -D -m 755 launcher $(TARGET)" in makefile
    entry = bundle / "pigeonhole-0.1.0/usr/share/applications/org.pigeonhole.pigeonhole.desktop"
    desktop_file = entry.read_text(encoding="utf-8")
    assert "Exec=pigeonhole %F" in desktop_file
    assert "Icon=org.pigeonhole.pigeonhole" in desktop_file
    assert paths["icon"]["16"].endswith("/16x16/apps/org.pigeonhole.pigeonhole.png")
    assert (bundle / "pigeonhole.1").read_text(encoding="utf-8").startswith(".TH PIGEONHOLE 1")


# --- the sample project --------------------------------------------------------------------------
def test_the_sample_model_names_the_sample_folders() -> None:
    from desktop.resources import sample_project

    sample = sample_project()
    model = onnx.load(str(sample.model))
    props = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_props(props)
    assert "feature_map" in [output.name for output in model.graph.output]  # heat maps work
    assert sorted(info.classes) == sample.class_names()
    assert len(sample.labelled_images()) >= 200
    assert sample.model.stat().st_size < 5_000_000
    assert (sample.root / "LICENSE").read_text(encoding="utf-8").count("Zalando") >= 1


def test_a_missing_resource_names_the_folder_to_fix(tmp_path: Path, monkeypatch) -> None:
    from desktop.resources import ENV_OVERRIDE, MissingResource, sample_project

    monkeypatch.setenv(ENV_OVERRIDE, str(tmp_path))
    with pytest.raises(MissingResource, match=str(tmp_path)):
        sample_project()


# --- entry point modes ---------------------------------------------------------------------------
def test_importing_the_modes_does_not_import_tensorflow() -> None:
    code = (
        "import sys, desktop.subcommands, desktop.train_entry, desktop.selftest, desktop.resources;"
        "sys.exit(int('tensorflow' in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False, timeout=120)
    assert result.returncode == 0


def test_train_mode_is_the_trainer_cli() -> None:
    result = run_app("train", "--help")
    assert result.returncode == 0, result.stderr
    assert "--out" in result.stdout and "--backbone" in result.stdout


def test_train_mode_reports_bad_input_with_exit_status_2(tmp_path: Path) -> None:
    result = run_app("train", str(tmp_path / "missing"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert not (tmp_path / "run").exists()


def test_training_command_uses_this_interpreter_outside_a_package() -> None:
    from desktop.train_entry import training_command

    command = training_command(["DATA", "--out", "RUN"])
    assert command == [sys.executable, "-m", "desktop", "train", "DATA", "--out", "RUN"]


def test_self_test_passes_on_the_bundled_sample() -> None:
    result = run_app("--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    assert "ok   predictions" in result.stdout


def test_self_test_says_what_failed_without_the_sample(tmp_path: Path) -> None:
    result = run_app("--self-test", env={"PIGEONHOLE_RESOURCES": str(tmp_path)})
    assert result.returncode == 1
    assert "FAIL bundled resources" in result.stdout
    assert "self-test FAILED" in result.stderr
    assert list(tmp_path.iterdir()) == []
