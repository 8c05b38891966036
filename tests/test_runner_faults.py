"""Faults in the middle of a live run: the worker killed and started again, Temporal stopped and started again.

The runner runs as its own process (`journey-studio run --temporal ...`), the announcement as a rehearsal (a day
lasts 2 seconds; the launch text goes out 3 simulated days after the start). Messages are counted at the sinks:
nobody may be lost and nobody may get a message twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.runner.devserver import DevServer, free_port
from app.runner.state import StateDb
from tests.runner_helpers import (Mail, People, Population, SmsSink, SmtpSink, announcement_text, contact_of,
                                  contacts_project, dev_server, needs_temporal, package_of)

pytestmark = [needs_temporal, pytest.mark.temporal]
_fixtures = (dev_server,)
ROOT = Path(__file__).parent.parent
SCALE = 43_200.0
DAY = 86_400 / SCALE  # a simulated day in real seconds
LAUNCH = "2026-12-04T09:00"  # the clickers wait 3 simulated days (6 s) for the text: the faults happen meanwhile


def _wait_for(what: str, ok: Callable[[], bool], timeout: float = 90.0) -> None:
    """Block until `ok()` holds (checked every 20 ms); fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.02)


class Rehearsal:
    """A project, its package, the sinks and the people, and the runner as a process of its own."""

    def __init__(self, tmp: Path, temporal: str, n: int = 24, clicks: bool = True) -> None:
        self.db = tmp / "contacts.jstudio"
        self.pop: Population = contacts_project(self.db, n, announcement_text(LAUNCH))
        self.pkg = package_of(self.db, tmp / "announcement.jpkg")
        self.clickers = {c for c in self.pop.emailed() if c % 2 == 1} if clicks else set()
        self.hold_one_click = False  # keep the first clicker's click back until the test lets it go
        self.held: list[Mail] = []
        self.click_held = threading.Event()
        self.people = People().start()
        self.on_mail: Callable[[Mail], None] | None = None
        self.smtp = SmtpSink(on_mail=self._mail).start()
        self.sms = SmsSink().start()
        self.port = free_port()
        self.cmd = [sys.executable, "-m", "app.cli.main", "run", str(self.pkg), "--contacts-db", str(self.db),
                    "--temporal", temporal, "--smtp", self.smtp.address, "--sms-url", self.sms.url,
                    "--time-scale", str(SCALE), "--listen", f"127.0.0.1:{self.port}", "--send-timeout", "3",
                    "--state-dir", str(tmp / "state")]
        self.state_dir = tmp / "state"
        self.log = open(tmp / "runner.log", "ab")
        self.procs: list[subprocess.Popen[bytes]] = []  # every runner started, stopped in close() whatever happened

    def _mail(self, mail: Mail) -> None:
        if contact_of(mail) in self.clickers:
            if self.hold_one_click and not self.held:  # the test clicks it later, when it has made the fault
                self.held.append(mail)
                self.click_held.set()
            else:
                self.people.visit_now(f"click {contact_of(mail)}", mail.links()[0])
        if self.on_mail is not None:
            self.on_mail(mail)

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def all_emailed_and_clicked(self) -> bool:
        """Every email is at the sink, and every click has reached the contact's workflow."""
        mails = self.smtp.snapshot()
        if {contact_of(m) for m in mails} != set(self.pop.emailed()) or len(set(self.people.done)) < len(self.clickers):
            return False
        state = StateDb(self.state_dir / "runner.db")
        try:
            # a click on a tracked link is two events: 'clicked' and 'clicked:LINK' (for if/thens on that link)
            return state.event_counts() == {"delivered": 2 * len(self.clickers)}
        finally:
            state.close()

    def close(self) -> None:
        for proc in self.procs:  # a failed test leaves no runner behind
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        self.people.stop()
        self.smtp.stop()
        self.sms.stop()
        self.log.close()

    def sent_at(self, contact: int) -> float | None:
        """When (real time) the runner recorded the announcement to `contact` as sent; None until it has."""
        state = StateDb(self.state_dir / "runner.db")
        try:
            return next((float(r["real_at"]) for r in state.sends() if r["contact_id"] == contact
                         and r["step_id"] == "announce" and r["status"] == "sent"), None)
        finally:
            state.close()

    def pending(self) -> int:
        """Events the endpoint accepted that have not reached their workflow yet."""
        state = StateDb(self.state_dir / "runner.db")
        try:
            return state.event_counts().get("pending", 0)
        finally:
            state.close()

    def assert_paths(self) -> None:
        """Each contact went the way it goes without faults: every emailed contact has one distinct email (a
        resend after a crash has the same Message-ID, which the recipient's mail store keeps once), and exactly
        the clickers got the launch text, once."""
        mails = self.smtp.snapshot()
        distinct = {m.message_id: m for m in mails}.values()
        assert Counter(contact_of(m) for m in distinct) == Counter(self.pop.emailed())
        assert Counter(contact_of(s) for s in self.sms.snapshot()) == Counter(self.clickers)

    def assert_exactly_once(self) -> None:
        """Each contact got exactly the messages its path implies, once."""
        assert Counter(contact_of(m) for m in self.smtp.snapshot()) == Counter(self.pop.emailed())
        assert Counter(contact_of(s) for s in self.sms.snapshot()) == Counter(self.clickers)

    def counted(self) -> dict[str, Any]:
        """The run's own status (`journey-studio status --json`), checked to count each message once, however
        often its transport was called: no duplicate counted."""
        from app.runner.runnable import from_package
        from app.runner.status import read_counts
        counts = asyncio.run(read_counts(from_package(self.pkg), self.state_dir))
        steps = {row["step"]: row for row in counts["steps"]}
        assert (steps["announce"]["sent"], steps["launched"]["sent"]) == (len(self.pop.emailed()), len(self.clickers))
        assert counts["messages"]["sent"] == len(self.pop.emailed()) + len(self.clickers)
        return counts


def _finish(proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    assert proc.wait(timeout) == 0, "the runner failed; see runner.log in the test's folder"


def test_worker_killed_mid_journey_then_restarted(tmp_path: Path, dev_server: DevServer) -> None:
    run = Rehearsal(tmp_path, dev_server.address)
    try:
        proc = run.start()
        _wait_for("the emails and the clicks", run.all_emailed_and_clicked)
        assert run.sms.snapshot() == []  # the clickers are waiting for the launch: mid-journey
        proc.kill()  # SIGKILL: no clean shutdown of the worker, the endpoint or anything
        proc.wait()
        _finish(run.start())
        run.assert_exactly_once()
        run.counted()
    finally:
        run.close()


def test_worker_killed_between_smtp_acceptance_and_its_record(tmp_path: Path, dev_server: DevServer) -> None:
    """The one window no idempotency key can close: the sink has the message, the runner has not recorded it.
    The message goes again with the same Message-ID, so the recipient's mail store keeps one. (Nobody clicks
    here: a click on an email that arrived while the runner was down reaches it days later in simulated time,
    too late for the one-day window; the first test covers clicks.)"""
    run = Rehearsal(tmp_path, dev_server.address, clicks=False)
    procs: list[subprocess.Popen[bytes]] = []

    def kill_on_third(mail: Mail) -> None:  # inside the SMTP transaction, before the sink answers 250
        if len(run.smtp.snapshot()) == 3 and procs:
            os.kill(procs[0].pid, signal.SIGKILL)

    run.on_mail = kill_on_third
    try:
        procs.append(run.start())
        procs[0].wait(120)
        assert procs[0].returncode == -signal.SIGKILL
        run.on_mail = None
        _finish(run.start())
        mails = run.smtp.snapshot()
        by_id = Counter(m.message_id for m in mails)
        resent = [mid for mid, n in by_id.items() if n > 1]
        # every contact has exactly one distinct message; the only repeats are resends of the same message
        assert Counter(contact_of(m) for m in {m.message_id: m for m in mails}.values()) == \
            Counter(run.pop.emailed())
        assert 1 <= len(resent) and all(by_id[mid] == 2 for mid in resent)
        assert mails[2].message_id in resent  # the one being accepted when the runner died
        assert run.sms.snapshot() == []
        assert run.counted()["messages"]["retried"] >= 1  # its transport was called twice: counted once
    finally:
        run.close()


def test_temporal_stopped_and_restarted_mid_journey(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "temporal" / "temporal.db").start()
    run = Rehearsal(tmp_path, server.address)
    try:
        proc = run.start()
        _wait_for("the emails and the clicks", run.all_emailed_and_clicked)
        assert run.sms.snapshot() == []
        server.stop()  # SIGTERM; its state stays in the database file
        server.start()  # same file, same port
        _finish(proc)
        run.assert_exactly_once()
    finally:
        run.close()
        server.stop()


def _sleep_until(moment: float) -> None:
    while time.time() < moment:
        threading.Event().wait(min(0.1, max(0.0, moment - time.time())))


@pytest.mark.parametrize("worker_too", [False, True], ids=["temporal-killed", "temporal-and-worker-killed"])
def test_click_accepted_in_time_during_an_outage_counts(tmp_path: Path, worker_too: bool) -> None:
    """A click the endpoint accepts inside its if/then's one-day window, while Temporal is down (killed: a crash),
    reaches the workflow only after the window has closed: it still counts, so the clicker gets the launch text
    as without the fault. With the worker killed too, the click waits in the outbox of the runner's state file
    across the restart. Meanwhile the other emails' clicks come in while Temporal is away (in flight too)."""
    server = DevServer(tmp_path / "temporal" / "temporal.db").start()
    run = Rehearsal(tmp_path, server.address)
    run.hold_one_click = True
    try:
        proc = run.start()
        assert run.click_held.wait(120), "no clicker's email arrived"
        mail = run.held[0]
        who = contact_of(mail)
        _wait_for(f"the email to contact {who} recorded as sent", lambda: run.sent_at(who) is not None)
        server.kill()  # SIGKILL, mid-journey; its state stays in the database file
        run.people.visit_now(f"click {who}", mail.links()[0])  # the endpoint (still up) accepts it in time
        assert run.pending() >= 2  # 'clicked' and 'clicked:product-details', for a workflow out of reach
        if worker_too:
            proc.kill()
            proc.wait()
        sent = run.sent_at(who)
        assert sent is not None
        _sleep_until(sent + 1.5 * DAY)  # the click's one-day window closes during the outage
        server.start()  # same file, same port
        if worker_too:
            proc = run.start()
        _finish(proc)
        run.assert_paths()
        assert run.pending() == 0
        run.counted()
    finally:
        run.close()
        server.stop()
