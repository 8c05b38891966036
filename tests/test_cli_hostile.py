"""The command line against hostile input and a hostile environment (issue 14): devices, pipes and folders as
output files, a full disk, '-' for standard output, a mistyped command, packages that use zip features we do not,
spreadsheet formulas in step names. Each is one line and exit status 2 (1 for `report` and refused packages),
never an internal error, and leaves what was there untouched."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import files
from app.cli.main import cli
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.samples import ANNOUNCEMENT
from tests.test_package import NAME, make_project
from tests.test_safe_writes import device_node

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


def one_line_error(code: int, err: str, status: int = 2) -> str:
    """The error line of a refused command: the given status (never 3, an internal error), one line."""
    assert code == status, err
    assert err.count("\n") == 1 and err.startswith("journey-studio: error: "), err
    assert "internal error" not in err
    return err


def disk_full(fd: int, data: bytes) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


EXPORT = ("export", "--journey", NAME, "--out")


# --- output files --------------------------------------------------------------------------------------------

def test_export_refuses_a_device_and_leaves_it_a_device(project: Path, tmp_path: Path, capsys: Cap) -> None:
    device = device_node(tmp_path)
    code, out, err = run(capsys, EXPORT[0], project, *EXPORT[1:], device)
    assert "is a device" in one_line_error(code, err) and out == ""
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_export_to_dev_stdout_is_refused_not_an_internal_error(project: Path, capsys: Cap) -> None:
    """Whatever standard output is here (a terminal, a pipe, pytest's file), /dev/stdout is not replaced."""
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout on this system")
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], "/dev/stdout")
    assert "give - to write to standard output" in one_line_error(code, err)


def test_export_refuses_a_fifo_without_blocking_on_it(project: Path, tmp_path: Path, capsys: Cap) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], fifo)
    assert "named pipe" in one_line_error(code, err) and stat.S_ISFIFO(fifo.stat().st_mode)


def test_export_refuses_a_folder_in_one_line(project: Path, tmp_path: Path, capsys: Cap) -> None:
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], tmp_path)
    assert "is a folder" in one_line_error(code, err)


def test_export_dash_is_standard_output(project: Path, tmp_path: Path, capsys: Cap,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, EXPORT[0], project, *EXPORT[1:], "-")
    assert code == 0 and err == "" and out.startswith("format: journey/1") and not (tmp_path / "-").exists()


def test_export_keeps_a_private_files_permissions(project: Path, tmp_path: Path, capsys: Cap) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("old")
    target.chmod(0o600)
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], target)
    assert code == 0, err
    assert target.read_text().startswith("format: journey/1") and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_on_a_full_disk_says_so_and_leaves_the_file(project: Path, tmp_path: Path, capsys: Cap,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("the last good export\n")
    monkeypatch.setattr(files, "_write_all", disk_full)
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], target)
    assert "the disk is full" in one_line_error(code, err)
    assert target.read_text() == "the last good export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml", "p.jstudio"]


def test_export_release_to_a_device_freezes_nothing(project: Path, tmp_path: Path, capsys: Cap) -> None:
    code, _, err = run(capsys, EXPORT[0], project, *EXPORT[1:], device_node(tmp_path), "--release")
    one_line_error(code, err)
    with ProjectFile.open(project, readonly=True) as pf:
        assert pf.versions(NAME) == []


@pytest.mark.parametrize("command", [("behaviour",), ("profile",)])
def test_behaviour_and_profile_write_to_dash_files_and_refuse_devices(command: tuple[str, ...], tmp_path: Path,
                                                                      capsys: Cap) -> None:
    code, out, err = run(capsys, *command, "--out", "-")
    assert code == 0 and err == "" and out.strip()
    target = tmp_path / "out.yaml"
    code, _, err = run(capsys, *command, "--out", target)
    assert code == 0 and target.read_text() == out and f"Wrote {target}" in err
    code, _, err = run(capsys, *command, "--out", device_node(tmp_path))
    one_line_error(code, err)


def test_report_refuses_a_device_and_a_folder_before_reading_the_project(tmp_path: Path, capsys: Cap) -> None:
    for out in (device_node(tmp_path), tmp_path):
        code, _, err = run(capsys, "report", tmp_path / "none.jstudio", "--run", "1", "--out", out)
        assert ("is a device" in err or "is a folder" in err) and one_line_error(code, err, status=1)


def test_package_refuses_a_device_dash_and_a_full_disk_with_one_line(project: Path, tmp_path: Path, capsys: Cap,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "package", project, "--journey", NAME, "--out", device_node(tmp_path))
    assert "is a device" in one_line_error(code, err)
    code, _, err = run(capsys, "package", project, "--journey", NAME, "--out", "-")
    assert "give its file name" in one_line_error(code, err)
    with ProjectFile.open(project, readonly=True) as pf:
        assert pf.versions(NAME) == []  # refused before freezing
    monkeypatch.setattr(files, "_write_all", disk_full)
    out = tmp_path / "a.jpkg"
    code, _, err = run(capsys, "package", project, "--journey", NAME, "--out", out)
    assert "the disk is full" in one_line_error(code, err) and "version 1 was frozen" in err and not out.exists()


def test_keygen_refuses_dash_and_a_device(tmp_path: Path, capsys: Cap) -> None:
    code, _, err = run(capsys, "keygen", "--out", "-")
    one_line_error(code, err)
    code, _, err = run(capsys, "keygen", "--out", device_node(tmp_path))
    assert "already exists" in one_line_error(code, err)
    key = tmp_path / "team.key"
    assert run(capsys, "keygen", "--out", key)[0] == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# --- simulate --json - and compare --csv -: the data on standard output, the summary on standard error -------

STEP_NAMES = ANNOUNCEMENT.replace("announce: {type: email,", "announce: {type: email, name: '=HYPERLINK(\"x\")',")


@pytest.fixture
def simulated(tmp_path: Path, capsys: Cap) -> Path:
    path = make_project(tmp_path / "sim.jstudio", STEP_NAMES)
    for seed in ("1", "2"):
        code, _, err = run(capsys, "simulate", path, "--journey", NAME, "--seed", seed, "--contacts", "300")
        assert code == 0, err
    return path


def test_simulate_json_dash_writes_only_json_to_standard_output(simulated: Path, capsys: Cap) -> None:
    code, out, err = run(capsys, "simulate", simulated, "--journey", NAME, "--seed", "3", "--contacts", "300",
                         "--no-save", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["funnel"] and "Funnel (contacts at each step)" in err


def test_simulate_json_to_a_device_is_refused_before_simulating(simulated: Path, tmp_path: Path,
                                                                 capsys: Cap) -> None:
    code, out, err = run(capsys, "simulate", simulated, "--journey", NAME, "--seed", "3", "--contacts", "300",
                         "--json", device_node(tmp_path))
    assert "is a device" in one_line_error(code, err) and out == ""
    with ProjectFile.open(simulated, readonly=True) as pf:
        assert len(pf.runs()) == 2  # nothing was simulated or saved


def test_compare_csv_defuses_formulas_in_step_names(simulated: Path, tmp_path: Path, capsys: Cap) -> None:
    code, out, err = run(capsys, "compare", simulated, "1", "2", "--csv", "-")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:5] == ["step", "name", "type", "status", "metric"]  # only CSV on standard output
    names = {r[1] for r in rows[1:]}
    assert "'=HYPERLINK(\"x\")" in names and not any(n.startswith("=") for n in names)
    target = tmp_path / "c.csv"
    code, _, err = run(capsys, "compare", simulated, "1", "2", "--csv", target)
    assert code == 0 and list(csv.reader(target.open(newline=""))) == rows


# --- a mistyped command does not open the designer ----------------------------------------------------------

@pytest.fixture
def no_designer(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """A stand-in for the designer's launcher that records what it was asked to open (no Qt is imported)."""
    opened: list[str | None] = []
    fake = types.ModuleType("designer.launch")
    fake.launch = lambda project=None: opened.append(project) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "designer.launch", fake)
    return opened


@pytest.mark.parametrize(("word", "says"), [
    ("simulat", "no such command 'simulat'; did you mean 'simulate'?"),
    ("exprot", "no such command 'exprot'; did you mean 'export'?"),
    ("calibrat", "no such command 'calibrat'; did you mean 'calibrate'?"),
    ("frobnicate", "no such command 'frobnicate' (commands: behaviour, calibrate, check, compare"),
])
def test_a_mistyped_command_says_so_and_opens_no_designer(no_designer: list[str | None], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, word: str,
                                                          says: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [word])
    assert result.exit_code == 2, result.output
    assert says in result.output and result.output.count("\n") == 1
    assert no_designer == []


def test_a_mistyped_command_through_main_is_one_line_exit_2(no_designer: list[str | None], capsys: Cap,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "simulat", "p.jstudio")
    assert "did you mean 'simulate'?" in one_line_error(code, err) and no_designer == []


@pytest.mark.parametrize("arg", ["shop.jstudio", "./shop", "folder/shop"])
def test_a_project_path_still_opens_the_designer(no_designer: list[str | None], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, arg: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, [arg]).exit_code == 0
    assert no_designer == [arg]


def test_an_existing_file_named_like_a_word_opens_the_designer(no_designer: list[str | None], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop").write_bytes(b"")
    assert CliRunner().invoke(cli, ["shop"]).exit_code == 0
    assert no_designer == ["shop"]


# --- packages that use zip features packages do not ----------------------------------------------------------

def test_a_zip_claiming_a_newer_zip_version_is_a_one_line_package_error(project: Path, tmp_path: Path,
                                                                        capsys: Cap) -> None:
    pkg = tmp_path / "a.jpkg"
    assert run(capsys, "package", project, "--journey", NAME, "--out", pkg)[0] == 0
    raw = bytearray(pkg.read_bytes())
    at = raw.index(b"PK\x01\x02")  # the first central directory entry: "version needed to extract" at +6
    raw[at + 6:at + 8] = (99).to_bytes(2, "little")  # zip 9.9
    newer = tmp_path / "newer.jpkg"
    newer.write_bytes(bytes(raw))
    code, _, err = run(capsys, "verify", newer)
    assert "zip file version 9.9" in one_line_error(code, err, status=1) and str(newer) in err
    code, _, err = run(capsys, "import-package", project, newer)
    one_line_error(code, err, status=1)


def test_a_broken_pipe_on_standard_output_is_not_an_internal_error(project: Path, capsys: Cap,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import app.cli.main as main_module

    def reader_gone(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    monkeypatch.setattr(main_module.click, "echo", reader_gone)
    monkeypatch.setattr(main_module, "_quiet_stdout", lambda: None)
    assert main_module.main(["export", str(project), "--journey", NAME]) == 1
