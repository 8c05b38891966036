"""The packaging files agree with each other and with the code, without building anything (the real build and
its smoke test are `python packaging/build.py`, minutes long, outside the test run)."""

from __future__ import annotations

import ast
import configparser
import glob
import importlib.util
import plistlib
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
SPEC = PKG / "journey_studio.spec"
EXTENSIONS = {"jstudio": "application/x-journey-studio-project", "jpkg": "application/x-journey-studio-package"}
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def spec_constant(name: str):
    for node in spec_tree().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned a literal in {SPEC.name}")


def test_the_spec_is_python_and_names_the_files_it_uses() -> None:
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
    text = SPEC.read_text(encoding="utf-8")
    for rel in re.findall(r'HERE / "([\w.-]+)"(?: / "([\w.-]+)")?', text):
        path = PKG.joinpath(*[p for p in rel if p])
        assert path.exists(), f"the spec uses {path}, which does not exist"
    assert spec_constant("NAME") == "journey-studio"


def test_every_data_source_in_the_spec_exists_and_lands_where_the_code_looks() -> None:
    data = spec_constant("DATA")
    for src, dest in data:
        assert glob.glob(str(ROOT / src)), f"the spec bundles {src}, which matches nothing"
    dests = {dest for _, dest in data}
    # app/resources.py looks in <top>/resources; the build puts the folder there
    from app.resources import RESOURCES
    assert RESOURCES == ROOT / "resources" and "resources" in dests
    # Alembic reads its scripts as files from app/store/migrations (app/store/migrate.py)
    from app.store.migrate import SCRIPT_LOCATION
    assert SCRIPT_LOCATION == ROOT / "app" / "store" / "migrations"
    bundled = {Path(p).resolve() for src, _ in data for p in glob.glob(str(ROOT / src))}
    for script in (SCRIPT_LOCATION / "versions").glob("*.py"):
        assert script.resolve() in bundled, f"migration {script.name} would be missing from the build"
    assert (SCRIPT_LOCATION / "env.py").resolve() in bundled
    # what the first start builds the demo project from
    from app.services import DEMO_TEMPLATES
    for stem in DEMO_TEMPLATES:
        assert (RESOURCES / "templates" / f"{stem}.yaml").is_file()
    # app/cli/buildinfo.py reads the build's file from the app package, where the spec writes it
    from app.cli.buildinfo import BUILD_FILE
    assert BUILD_FILE.parent == ROOT / "app" / "cli" and '"app/cli"))' in SPEC.read_text(encoding="utf-8")
    assert not BUILD_FILE.exists(), "a build's build_info.json is in the source tree: a source run is 'development'"


def test_the_runtime_hook_and_entry_script_exist() -> None:
    assert (PKG / "rthooks" / "pyi_rth_journey_studio.py").is_file()
    assert (PKG / "journey_studio_main.py").is_file()


@pytest.fixture()
def entry(monkeypatch):
    """packaging/journey_studio_main.py with the command line replaced by a recorder."""
    spec = importlib.util.spec_from_file_location("journey_studio_main", PKG / "journey_studio_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import app.cli.main
    calls: list[list[str]] = []
    monkeypatch.setattr(app.cli.main, "main", lambda argv=None: calls.append(list(argv)) or 0)
    return module, calls


def test_the_packaged_entry_runs_the_command_line(entry) -> None:
    module, calls = entry
    assert module.main(["validate", "shop.jstudio"]) == 0
    # the runner's extra workers are started as `sys.executable -m app.cli.main run ...`
    assert module.main(["-m", "app.cli.main", "run", "x.jpkg", "--join"]) == 0
    assert module.main([]) == 0
    assert calls == [["validate", "shop.jstudio"], ["run", "x.jpkg", "--join"], []]
    assert module.main(["--smoke-test"]) == 2  # no report file: refused before anything starts


def read_desktop() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((PKG / "linux" / "journey-studio.desktop").read_text(encoding="utf-8"))
    return parser


def test_the_desktop_entry_opens_both_file_types() -> None:
    entry = read_desktop()["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "Journey Studio"
    assert entry["Exec"].split()[0] == "journey-studio" and entry["Exec"].split()[1] in ("%f", "%F")
    assert entry["Terminal"] == "false"
    assert set(filter(None, entry["MimeType"].split(";"))) == set(EXTENSIONS.values())
    assert entry["Categories"].endswith(";") and entry["MimeType"].endswith(";")
    assert entry["Icon"] == "journey-studio"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_the_desktop_entry_passes_desktop_file_validate() -> None:
    done = subprocess.run(["desktop-file-validate", str(PKG / "linux" / "journey-studio.desktop")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_mime_types_are_valid_xml_with_both_extensions() -> None:
    root = ET.parse(PKG / "linux" / "journey-studio-mime.xml").getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    found = {}
    for mime in root.findall(f"{MIME_NS}mime-type"):
        globs = [g.get("pattern") for g in mime.findall(f"{MIME_NS}glob")]
        assert mime.find(f"{MIME_NS}comment") is not None
        for pattern in globs:
            found[pattern] = mime.get("type")
    assert found == {f"*.{ext}": mime for ext, mime in EXTENSIONS.items()}


def test_the_linux_installer_installs_what_the_archive_holds() -> None:
    install = (PKG / "linux" / "install.sh").read_text(encoding="utf-8")
    build = (PKG / "build.py").read_text(encoding="utf-8")
    for name in ("install.sh", "journey-studio.desktop", "journey-studio-mime.xml"):
        assert (PKG / "linux" / name).is_file() and f'"{name}"' in build
    sizes = re.search(r'sizes="([\d ]+)"', install).group(1).split()
    for size in sizes:
        assert (PKG / "icons" / f"journey-studio-{size}.png").is_file()


def test_info_plist_declares_and_opens_both_file_types() -> None:
    with open(PKG / "macos" / "Info.plist", "rb") as f:
        plist = plistlib.load(f)
    exported = {t["UTTypeIdentifier"]: t for t in plist["UTExportedTypeDeclarations"]}
    extensions = {}
    for uti, t in exported.items():
        tags = t["UTTypeTagSpecification"]
        for ext in tags["public.filename-extension"]:
            extensions[ext] = (uti, tags["public.mime-type"][0])
        assert "public.data" in t["UTTypeConformsTo"]
    assert {ext: mime for ext, (_, mime) in extensions.items()} == EXTENSIONS
    opened = {uti for d in plist["CFBundleDocumentTypes"] for uti in d["LSItemContentTypes"]}
    assert opened == set(exported)
    for d in plist["CFBundleDocumentTypes"]:
        assert d["CFBundleTypeRole"] in ("Editor", "Viewer")
        assert (PKG / "icons" / d["CFBundleTypeIconFile"]).is_file()
    assert plist["NSHighResolutionCapable"] is True


def test_the_windows_installer_registers_both_extensions() -> None:
    iss = (PKG / "windows" / "journey-studio.iss").read_text(encoding="utf-8")
    progids = dict(re.findall(r'#define (\w+)ProgId "([\w.]+)"', iss))
    assert set(progids) == {"Project", "Package"}
    for ext, kind in (("jstudio", "Project"), ("jpkg", "Package")):
        assert f'Subkey: "Software\\Classes\\.{ext}"; ValueType: string; ValueName: ""; ' \
               f'ValueData: "{{#{kind}ProgId}}"' in iss
        assert f'Subkey: "Software\\Classes\\{{#{kind}ProgId}}\\shell\\open\\command"' in iss
        assert f'ValueData: "application/x-journey-studio-{kind.lower()}"' in iss
    assert '""{app}\\{#AppExe}"" ""%1""' in iss
    assert '#define AppExe "journey-studio.exe"' in iss
    assert 'Source: "..\\dist\\journey-studio\\*"' in iss  # where build.py puts the program folder
    assert "ChangesAssociations=yes" in iss
    assert (PKG / "icons" / "journey-studio.ico").is_file()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_icons_exist_in_every_form() -> None:
    icons = PKG / "icons"
    ET.parse(icons / "journey-studio.svg")
    for size in (16, 24, 32, 48, 64, 128, 256, 512, 1024):
        assert png_size(icons / f"journey-studio-{size}.png") == (size, size)
    reserved, kind, count = struct.unpack("<HHH", (icons / "journey-studio.ico").read_bytes()[:6])
    assert (reserved, kind) == (0, 1) and count >= 5  # an icon directory with several sizes
    icns = (icons / "journey-studio.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_build_outputs_are_ignored_by_git() -> None:
    ignored = (PKG / ".gitignore").read_text(encoding="utf-8").split()
    assert {"/build/", "/dist/"} <= set(ignored)


def test_packaging_is_not_a_python_package() -> None:
    # An __init__.py would make this folder shadow the `packaging` library that pip and pytest import.
    assert not (PKG / "__init__.py").exists()
    import packaging
    assert Path(packaging.__file__).resolve().parent != PKG
    assert "packaging" in sys.modules
