"""Output files are written whole or not at all, keep their permissions, and are never devices, pipes or folders;
CSV exports defuse spreadsheet formulas (issue 14, items 5 and 7)."""

from __future__ import annotations

import csv
import errno
import importlib
import io
import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from app import files
from app.errors import JourneyStudioError
from app.files import OutputFileError, csv_cell, csv_text, write_atomically, write_csv


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def device_node(folder: Path) -> Path:
    """A character device to refuse. As root, a null device made in `folder`: were the refusal ever to regress,
    the test would replace that node and not the system's /dev/null. Others cannot replace /dev/null anyway."""
    if os.geteuid() != 0:
        return Path(os.devnull)
    node = folder / "null-device"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("running as root without the right to make a device node")
    return node


def disk_full(fd: int, data: bytes) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def only(folder: Path) -> list[str]:
    """The names in a folder: no temporary file may be left behind."""
    return sorted(p.name for p in folder.iterdir())


# --- replacing and creating ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_replacing_a_file_keeps_its_permission_bits(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("old\n")
    target.chmod(mode)
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert only(tmp_path) == ["out.yaml"]


def test_a_new_file_is_0644_and_a_private_one_0600(tmp_path: Path, umask_022: None) -> None:
    write_atomically(tmp_path / "shared.txt", "x")
    write_atomically(tmp_path / "secret.key", b"k", private=True)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_text_is_utf8_as_given_and_bytes_are_written_as_they_are(tmp_path: Path) -> None:
    write_atomically(tmp_path / "t.txt", "é\r\nline\n")
    write_atomically(tmp_path / "b.bin", bytes(range(256)))
    assert (tmp_path / "t.txt").read_bytes() == "é\r\nline\n".encode()
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256))


def test_a_symbolic_link_is_kept_and_the_file_it_points_to_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_atomically(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_without_replace_an_existing_file_is_refused_untouched(tmp_path: Path) -> None:
    target = tmp_path / "team.key"
    target.write_text("the only copy")
    with pytest.raises(OutputFileError, match="already exists"):
        write_atomically(target, "other", replace=False)
    assert target.read_text() == "the only copy" and only(tmp_path) == ["team.key"]
    write_atomically(tmp_path / "new.key", "k", replace=False)
    assert (tmp_path / "new.key").read_text() == "k"


def test_without_hard_links_a_new_file_is_still_written_and_an_old_one_kept(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: Any, dst: Any) -> None:
        raise OSError(errno.EPERM, "hard links are not supported here")
    monkeypatch.setattr(files.os, "link", no_links)
    write_atomically(tmp_path / "new.key", "k", replace=False, private=True)
    assert (tmp_path / "new.key").read_text() == "k" and only(tmp_path) == ["new.key"]
    with pytest.raises(OutputFileError, match="already exists"):
        write_atomically(tmp_path / "new.key", "other", replace=False)
    assert (tmp_path / "new.key").read_text() == "k"


# --- what is refused ------------------------------------------------------------------------------------------

def test_a_device_is_refused_and_stays_a_device(tmp_path: Path) -> None:
    device = device_node(tmp_path)
    with pytest.raises(OutputFileError, match="is a device") as e:
        write_atomically(device, "x", dash=True)
    assert "\n" not in str(e.value) and "give - to write to standard output" in str(e.value)
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputFileError, match="named pipe"):  # opening it would block: it is never opened
        write_atomically(fifo, "x")
    assert stat.S_ISFIFO(fifo.stat().st_mode) and only(tmp_path) == ["pipe"]


def test_a_socket_is_refused() -> None:
    with tempfile.TemporaryDirectory(prefix="js") as d:  # short: a socket path is limited to ~100 characters
        path = Path(d) / "s"
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(path))
            with pytest.raises(OutputFileError, match="socket"):
                write_atomically(path, "x")
            assert stat.S_ISSOCK(path.stat().st_mode)


def test_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="is a folder") as e:
        write_atomically(tmp_path, "x")
    assert "\n" not in str(e.value) and only(tmp_path) == []


def test_the_names_of_open_descriptors_are_refused() -> None:
    """/dev/stdout redirected to a file is a regular file: replacing it would cut the stream off from it."""
    for name in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/2"):
        if os.path.exists(name):
            with pytest.raises(OutputFileError):
                files.check_output_path(name)


def test_the_file_standard_output_goes_to_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_text("what was said so far\n")
    saved = os.dup(1)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.close(fd)
        with pytest.raises(OutputFileError, match="open stream"):
            write_atomically(target, "x")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert target.read_text() == "what was said so far\n"


def test_a_missing_folder_and_a_read_only_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="does not exist"):
        write_atomically(tmp_path / "no" / "out.yaml", "x")
    locked = tmp_path / "locked.yaml"
    locked.write_text("keep")
    locked.chmod(0o444)
    try:
        with pytest.raises(OutputFileError, match="read-only"):
            write_atomically(locked, "x")
        assert locked.read_text() == "keep"
    finally:
        locked.chmod(0o644)


def test_a_full_disk_says_so_and_leaves_the_target_untouched(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("the old export\n")
    target.chmod(0o600)
    monkeypatch.setattr(files, "_write_all", disk_full)
    with pytest.raises(OutputFileError) as e:
        write_atomically(target, "a new export\n")
    assert "the disk is full" in str(e.value) and str(target) in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, JourneyStudioError) and isinstance(e.value, OSError)  # both kinds of handler
    assert target.read_text() == "the old export\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert only(tmp_path) == ["out.yaml"]


def test_a_failing_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: Any, dst: Any) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OutputFileError, match="cannot write the file"):
        write_atomically(tmp_path / "out.yaml", "x")
    assert only(tmp_path) == []


# --- packages and keys ---------------------------------------------------------------------------------------

def test_a_package_written_over_a_private_file_stays_private(tmp_path: Path) -> None:
    from app.package.build import package_journey
    from app.store import ProjectFile
    from tests.test_package import NAME, make_project
    project = make_project(tmp_path / "p.jstudio")
    out = tmp_path / "a.jpkg"
    out.write_bytes(b"an older package")
    out.chmod(0o600)
    with ProjectFile.open(project) as pf:
        package_journey(pf, NAME, out)
    assert out.read_bytes()[:2] == b"PK" and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_package_to_a_device_is_refused_before_anything_is_frozen(tmp_path: Path) -> None:
    from app.package.build import package_journey
    from app.package.errors import PackageError
    from app.store import ProjectFile
    from tests.test_package import NAME, make_project
    project = make_project(tmp_path / "p.jstudio")
    device = device_node(tmp_path)
    with ProjectFile.open(project) as pf:
        with pytest.raises(PackageError, match="is a device"):
            package_journey(pf, NAME, device)
        assert pf.versions(NAME) == []
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_key_pair_on_a_full_disk_leaves_no_key_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.package.errors import KeyFileError
    from app.package.signing import generate_key_pair
    writes: list[bytes] = []
    real = files._write_all

    def second_write_fails(fd: int, data: bytes) -> None:
        writes.append(data)
        if len(writes) == 2:
            disk_full(fd, data)
        real(fd, data)
    monkeypatch.setattr(files, "_write_all", second_write_fails)
    with pytest.raises(KeyFileError, match="the disk is full"):
        generate_key_pair(tmp_path / "team.key")
    assert only(tmp_path) == []  # the private key written first is taken back: no half pair


# --- CSV ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\r=1"])
def test_csv_cell_quotes_text_a_spreadsheet_would_run(text: str) -> None:
    assert csv_cell(text) == "'" + text
    assert csv_cell(csv_cell(text)) == "'" + text  # once only


@pytest.mark.parametrize("value", ["Welcome", "", "a=b", "-0.25", "+3", "1e-05", "-inf", 12, -1.5, None])
def test_csv_cell_leaves_numbers_and_plain_text_alone(value: object) -> None:
    assert csv_cell(value) == value


def test_csv_text_and_write_csv_defuse_every_cell(tmp_path: Path) -> None:
    rows = [["step", "=name"], ["@go", -3], ["-1", "-x"]]
    expected = [["step", "'=name"], ["'@go", "-3"], ["-1", "'-x"]]
    assert list(csv.reader(io.StringIO(csv_text(rows)))) == expected
    write_csv(tmp_path / "t.csv", rows)
    assert list(csv.reader((tmp_path / "t.csv").open(newline=""))) == expected


def test_the_comparison_csv_defuses_run_and_step_names() -> None:
    from simulator.compare import compare_results
    results = {"replicas": 1, "entries": {"mean": 10}, "contacts": 10, "funnel": [
        {"step": "@cmd", "name": "=1+2", "type": "email", "entered": {"mean": 10}}], "conversion": {}}
    rows = compare_results(results, results, labels=("=A", "-B")).to_csv_rows()
    assert rows[0][5] == "'=A" and rows[0][8] == "'-B" and rows[1][:2] == ["'@cmd", "'=1+2"]


# --- the designer's exports (Qt: imported by name, so that the rest of this module stays a core test) -------

@pytest.mark.gui
def test_plot_csv_export_defuses_formulas(qtbot: Any, tmp_path: Path) -> None:
    plot_widgets = importlib.import_module("designer.simulation.plot_widgets")
    path = tmp_path / "funnel.csv"
    plot_widgets.write_csv(path, (["step", "name", "entered"], [["=cmd", "+SUM(A1)", -1.5], ["ok", "Hi", 2.0]]))
    assert list(csv.reader(path.open(newline=""))) == [["step", "name", "entered"], ["'=cmd", "'+SUM(A1)", "-1.5"],
                                                       ["ok", "Hi", "2.0"]]


@pytest.mark.gui
def test_journey_export_shows_an_error_that_cannot_be_written_as_a_message(
        qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leftover_windows_closed: None) -> None:
    """A journey the codec cannot write (yaml's RepresenterError, as an `in` list did) or a full disk: a message,
    not a traceback dialog, and nothing written."""
    import yaml

    from tests.window_helpers import template_window
    actions = importlib.import_module("designer.actions")
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    out = tmp_path / "out.yaml"
    warnings: list[str] = []
    monkeypatch.setattr(actions.QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    monkeypatch.setattr(actions.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))

    def cannot_represent(doc: Any) -> str:
        raise yaml.representer.RepresenterError("cannot represent an object", object())
    monkeypatch.setattr(actions, "dump_yaml", cannot_represent)
    w.actions.export_journey_file()
    assert len(warnings) == 1 and "could not be exported" in warnings[0] and not out.exists()

    monkeypatch.undo()
    monkeypatch.setattr(actions.QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    monkeypatch.setattr(actions.QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    monkeypatch.setattr(files, "_write_all", disk_full)
    w.actions.export_journey_file()
    assert len(warnings) == 2 and "the disk is full" in warnings[1] and not out.exists()
