"""`status` and `compare --live` on a real run (a Temporal dev server, loopback sinks): the run's state folder
names the run, the figures follow the funnel (no step above the one before it), and a saved run's forecast sits
next to them."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from app.runner.devserver import DevServer, free_port
from app.runner.runnable import from_package
from app.runner.worker import RunSettings, run_journey
from tests.cli_helpers import run
from tests.runner_helpers import SmsSink, SmtpSink, contacts_project, dev_server, needs_temporal, package_of

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)


def test_status_by_state_folder_and_compare_live_on_a_real_run(tmp_path: Path, dev_server: DevServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "contacts.jstudio"
    pop = contacts_project(db, 30)
    code, _, err = run(capsys, "simulate", db, "--journey", "Product announcement", "--contacts", "300", "--seed",
                       "3", "--replicas", "2")
    assert code == 0, err
    pkg = package_of(db, tmp_path / "announcement.jpkg")
    r = from_package(pkg)
    state = Path(str(pkg) + ".run")
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        settings = RunSettings(contacts_db=str(db), state_dir=state, temporal=dev_server.address,
                               smtp=("127.0.0.1", smtp.port), sms_url=sms.url, time_scale=43_200.0 * 4,
                               send_timeout=10, listen=("127.0.0.1", free_port()))
        asyncio.run(run_journey(r, settings))
    finally:
        smtp.stop()
        sms.stop()
    code, out, err = run(capsys, "status", state, "--json")  # the state folder: its package is beside it
    assert code == 0, err
    counts = json.loads(out)
    funnel = {row["step"]: row for row in counts["funnel"]}
    assert [row["step"] for row in counts["funnel"]] == [*r.plan.step_names()[:-1], "end"]
    assert funnel["announce"]["entered"] == len(pop.audience) == counts["enrolled"]
    assert funnel["clicked"]["entered"] <= funnel["announce"]["entered"]
    assert funnel["launch"]["entered"] <= funnel["clicked"]["yes"]
    assert funnel["end"]["completed"] == counts["outcomes"]["completed"]
    code, out, err = run(capsys, "compare", db, "1", "--live", state)
    assert code == 0, err
    lines = out.splitlines()
    assert f"{len(pop.audience)} enrolled" in lines[2] and "forecast %" in out and "live n" in out
    entered = next(line for line in lines if line.startswith("announce"))
    assert re.search(rf"\s{len(pop.audience)}\s+100\.0$", entered)
