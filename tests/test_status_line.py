"""The status line long commands show on a terminal: what they are doing and the seconds so far, kept up to date
by a ticker; nothing when standard error is not a terminal; taken away before the result is printed."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from click.testing import CliRunner

from app.cli.main import cli
from app.cli.status_line import WIDTH, StatusLine


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _tickers() -> int:
    return sum(t.name == "status-line" for t in threading.enumerate())


def test_on_a_terminal_the_line_says_what_is_done_and_is_taken_away_at_the_end() -> None:
    out = _Terminal()
    with StatusLine(out) as line:
        line.show("indexing the contacts")
        assert _tickers() == 1
        drawn = out.getvalue()
        assert drawn.startswith("\r") and "s  indexing the contacts..." in drawn
        assert len(drawn) == 1 + WIDTH  # one line, padded so that a shorter text covers a longer one
        line.show("saving the project file")
        assert out.getvalue().rsplit("\r", 1)[1].strip().endswith("saving the project file...")
    assert out.getvalue().endswith("\r" + " " * WIDTH + "\r")  # cleared for the result
    assert _tickers() == 0  # the ticker has stopped


def test_off_a_terminal_nothing_is_written_and_no_thread_starts() -> None:
    out = io.StringIO()
    with StatusLine(out) as line:
        line.show("indexing the contacts")
        assert _tickers() == 0
    assert out.getvalue() == ""


def test_the_line_is_taken_away_when_the_command_fails_too() -> None:
    out = _Terminal()
    try:
        with StatusLine(out) as line:
            line.show("writing the accounts and contacts")
            raise ValueError("boom")
    except ValueError:
        pass
    assert out.getvalue().endswith("\r" + " " * WIDTH + "\r")


def test_population_piped_prints_its_result_and_no_status_line(tmp_path: Path) -> None:
    project = tmp_path / "p.jstudio"
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(project)]).exit_code == 0
    result = runner.invoke(cli, ["population", str(project), "--contacts", "300", "--seed", "1",
                                 "--as-of", "2026-06-01"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Generated 300 contacts") and "\r" not in result.output
