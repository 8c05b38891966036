"""The HTML report of a saved run: its figures are the run's, its pictures are valid SVG, user text is inert, and
`journey-studio report` writes it (or refuses in one line)."""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import update

from simulator.runs import load_run
from app.codec.yamlio import read_journey_file
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t
from app.semantics import outcomes as oc
from simulator.behaviour import BehaviourModel
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.report import population_text, render_report, report_for_run
from simulator.runs import RunRecord
from simulator.svg import nice_ticks
from tests.cli_helpers import run

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"


def _record(journey: Any, seed: int, replicas: int, behaviour: BehaviourModel | None = None,
            contacts: int = 1500) -> RunRecord:
    plan = compile_plan(journey)
    pop = population_for(plan, contacts, seed)
    b = behaviour or BehaviourModel()
    result = simulate(plan, pop, b, seed, replicas, chunk_size=700)
    return RunRecord.from_result(result, journey, pop.spec, b, chunk_size=700)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A project with two saved runs of Re-engagement: 3 replicas (approved, with notes) and 1 replica."""
    path = tmp_path_factory.mktemp("report") / "p.jstudio"
    project = Project("Reports")
    j, contents, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    import_journey(project, j, contents, segments)
    ProjectFile.create(path, project=project).close()
    with ProjectFile.open(path) as pf:
        journey = pf.project.journey("Re-engagement")
        three = pf.save_run(_record(journey, 3, 3), name="three replicas")
        one = pf.save_run(_record(journey, 4, 1), name="one replica")
        with pf._transaction("test: review the run") as conn:
            conn.execute(update(t.simulation_runs).where(t.simulation_runs.c.id == three).values(
                notes="Checked with sales.\nSMS figures look high.", approved_by="Ann Reviewer",
                approved_at=datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)))
    return path, three, one


def _load(path: Path, run_id: int) -> tuple[RunRecord, str]:
    with ProjectFile.open(path, readonly=True) as pf:
        return load_run(pf, run_id), report_for_run(pf, run_id)


class _Tables(HTMLParser):
    """The funnel table: its headings and, per row, the step id and the text of each cell by column key."""

    def __init__(self) -> None:
        super().__init__()
        self.in_funnel, self.cell, self.text = False, None, ""
        self.headings: list[str] = []
        self.rows: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("class") == "funnel":
            self.in_funnel = True
        elif self.in_funnel and tag == "tr" and a.get("data-step"):
            self.rows.append((str(a["data-step"]), {}))
        elif self.in_funnel and tag in ("td", "th"):
            self.cell, self.text = a.get("data-col") or ("heading" if not self.rows else None), ""

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_funnel = False
        elif self.in_funnel and tag in ("td", "th") and self.cell is not None:
            if self.cell == "heading":
                self.headings.append(self.text)
            else:
                self.rows[-1][1][self.cell] = self.text
            self.cell = None


def _funnel_table(page: str) -> _Tables:
    p = _Tables()
    p.feed(page)
    return p


def _visible(page: str) -> str:
    body = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _svgs(page: str) -> list[ET.Element]:
    blocks = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert blocks
    return [ET.fromstring(b) for b in blocks]


def _cell(f: dict[str, float], replicas: int) -> str:
    mean, half = f["mean"], (f["high"] - f["low"]) / 2
    if replicas < 2 or mean == half == 0:  # zero in every replica: a plain 0
        return f"{mean:,.0f}"
    return f"{mean:,.0f} ± {half:,.0f}"


def test_funnel_table_cells_are_the_runs_figures_with_intervals(saved: tuple[Path, int, int]) -> None:
    path, three, _ = saved
    record, page = _load(path, three)
    table = _funnel_table(page)
    funnel = record.results["funnel"]
    assert [step for step, _ in table.rows] == [r["step"] for r in funnel]  # plan order, 'end' last
    metrics = ["entered", "sent", "delivered", "opened", "clicked", "yes", "no", "holdout",
               *(f"path_{p}" for p in "ABCDEFGHIJ"), "exited", "goal"]
    shown = {m for m in metrics if any(r[m]["mean"] for r in funnel)}
    assert shown == {"entered", "sent", "delivered", "opened", "clicked", "yes", "no", "exited", "goal"}
    assert table.headings[:4] == ["step", "type", "entered", "% of journey entries"]
    entries = funnel[0]["entered"]["mean"]  # the entry step: every entry passes it
    for (step, cells), row in zip(table.rows, funnel):
        assert set(cells) == shown | {"share"}, step
        for m in shown:
            assert cells[m] == _cell(row[m], 3), (step, m)
        share = row["entered"]["mean"] / entries
        half = (row["entered"]["high"] - row["entered"]["low"]) / 2 / entries * 100
        assert cells["share"] == f"{share:.1%} ± {half:.1f}"
    text = _visible(page)
    conv = record.results["conversion"]
    assert f"{conv['mean']:.1%}" in text and f"95% interval {conv['low']:.1%} to {conv['high']:.1%}" in text


def test_one_replica_shows_the_traces_counts_without_intervals(saved: tuple[Path, int, int]) -> None:
    path, _, one = saved
    record, page = _load(path, one)
    funnel = page[page.index('<section id="funnel">'):page.index('<section id="time">')]
    assert "±" not in funnel and "95% interval" not in _visible(funnel)  # one replica: counts, no intervals
    assert "What the journey causes" in _visible(page) and "95% interval" in _visible(page)  # over the contacts
    trace = record.trace()  # with one replica the figures are the trace's: count them from its rows
    visits, messages = trace.visits, trace.messages
    steps = np.arange(len(trace.steps))
    entered = [(visits["step"] == s).sum() for s in steps]
    sent = [((messages["step"] == s) & (messages["sent"] >= 0)).sum() for s in steps]
    opened = [((messages["step"] == s) & (messages["opened"] >= 0)).sum() for s in steps]
    yes = [((visits["step"] == s) & (visits["outcome"] == oc.YES)).sum() for s in steps]
    table = dict(_funnel_table(page).rows)
    for i, sid in enumerate(trace.steps):
        cells = table[sid]
        assert cells["entered"] == f"{entered[i]:,}" and cells["sent"] == f"{sent[i]:,}"
        assert cells["opened"] == f"{opened[i]:,}" and cells["yes"] == f"{yes[i]:,}"
    assert entered[0] == len(trace.units["entered"])  # every entry passes the entry step
    goal = (trace.units["goal"] >= 0).sum() / len(trace.units["goal"])
    assert f"{goal:.1%} reached the goal" in _visible(page)


def test_pictures_are_valid_svg_with_one_tile_per_step(saved: tuple[Path, int, int]) -> None:
    path, three, _ = saved
    record, page = _load(path, three)
    svgs = _svgs(page)
    assert len(svgs) == 4  # the journey, the funnel bars, per day, cumulated
    journey = record.journey()
    picture = next(s for s in svgs if "journey" in s.get("class", "").split())
    tiles = [g for g in picture.iter(f"{SVG}g") if g.get("class") == "tile"]
    assert sorted(g.get("data-step") for g in tiles) == sorted(journey.steps)
    funnel = {r["step"]: r for r in record.results["funnel"]}
    for g in tiles:
        words = " ".join("".join(x.itertext()) for x in g.iter(f"{SVG}text"))
        row = funnel[g.get("data-step")]
        assert journey.steps[g.get("data-step")].display_name in words
        assert f"{row['entered']['mean']:,.0f} entered" in words
        if row["type"] == "if-then":
            assert f"{row['yes']['mean']:,.0f} yes" in words and f"{row['no']['mean']:,.0f} no" in words
        if row["type"] in ("email", "sms"):
            assert f"{row['sent']['mean']:,.0f} sent" in words
    links = [p for p in picture.iter(f"{SVG}path") if p.get("class") == "link"]
    assert len(links) == sum(1 for s, _, d in journey.links() if d in journey.steps)
    days = record.results["time_series"]["days"]
    charts = svgs[2:]
    for chart in charts:
        words = [("".join(x.itertext())) for x in chart.iter(f"{SVG}text")]
        assert {"entries", "sends", "opens", "clicks", "goals", "exits"} <= set(words)
        assert "1 Dec 2026" in words and days[0] == "2026-12-01"
    cumulated = [("".join(x.itertext())) for x in charts[1].iter(f"{SVG}text")]
    series = record.results["time_series"]
    top = max(sum(series[k]["mean"]) for k in ("entered", "sent", "opened", "clicked", "goals", "exited"))
    ticks = nice_ticks(top)  # the scale reaches the largest total, and not a step further
    assert f"{ticks[-1]:,.0f}" in cumulated and ticks[-1] >= top > ticks[-2]


def test_header_shows_approval_notes_and_an_outdated_version_only_when_it_differs(
        saved: tuple[Path, int, int], tmp_path: Path) -> None:
    path, three, one = saved
    record, page = _load(path, three)
    text = _visible(page)
    assert "Approved by Ann Reviewer on 2026-12-02 10:30 UTC" in text
    assert "Checked with sales.\nSMS figures look high." in html.unescape(page)
    assert "three replicas" in text and "older version" not in text
    assert "Not approved" in _visible(_load(path, one)[1]) and "No notes." in _visible(_load(path, one)[1])
    for current in (None, record.journey_version):
        assert "older version" not in render_report(record, current_version=current)
    warned = _visible(render_report(record, current_version=record.journey_version + 1))
    assert f"made on version {record.journey_version}; the journey is now at version " \
           f"{record.journey_version + 1}" in warned
    copy = tmp_path / "copy.jstudio"
    shutil.copyfile(path, copy)
    with ProjectFile.open(copy) as pf:
        pf.freeze("Re-engagement")  # the journey moves on to version 2: the saved run is now of an older one
        assert "This run is of an older version of the journey." in _visible(report_for_run(pf, three))
        pf.project.remove_journey(pf.project.journey("Re-engagement").id)
        assert "The journey has been deleted since this run." in _visible(report_for_run(pf, three))


def test_hostile_names_come_out_as_text() -> None:
    j = read_journey_file(resource_path("templates", "announcement.yaml"))[0]
    j.update(name=HOSTILE)
    for sid in j.steps:
        j.rename_step(sid, f'{HOSTILE} "{sid}" & <b>')
    record = _record(j, 5, 2, contacts=400)
    page = render_report(record, run_name=HOSTILE, notes=HOSTILE, approved_by=HOSTILE,
                         approved_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert "<script" not in page.lower() and "<b>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4 + 2 * len(j.steps)
    _svgs(page)  # still well-formed, the names as text
    assert HOSTILE in _visible(page)
    for bad in ("src=", "href=", "url(", "@import", "<link", "<iframe", "<object", "javascript:"):
        assert bad not in page  # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<[^>]*\son\w+\s*=", page)


def test_assumptions_name_the_population_and_the_figures_that_are_not_defaults() -> None:
    assert population_text({"kind": "synthetic", "contacts": 20000, "seed": 7}) == "20,000 synthetic contacts, seed 7"
    assert population_text({"kind": "project", "size": 812, "as_of": "2026-12-01T00:00:00+00:00"}) \
        == "812 project contacts in the journey's audience as of 2026-12-01"
    assert population_text({"kind": "segment", "size": 40, "segment": "VIP", "as_of": "2026-12-01T09:00:00+00:00"}) \
        == "40 members of segment 'VIP' as of 2026-12-01 09:00 UTC"
    j = read_journey_file(resource_path("templates", "announcement.yaml"))[0]
    plain = _visible(render_report(_record(j, 6, 1, contacts=300)))
    assert "Every figure is the default" in plain and "300 synthetic contacts, seed 6" in plain
    base = BehaviourModel()
    changed = replace(base, channels={**base.channels, "email": replace(base.channels["email"], open=0.3)},
                      messages={"announce": {"click": 0.2}}, event_rates={**base.event_rates, "purchase": 0.01})
    page = render_report(_record(j, 6, 1, changed, contacts=300))
    marked = re.findall(r'<td class="changed">(.*?)</td>', page)
    assert [re.sub(r"<[^>]+>", "", m) for m in marked] == [
        "30% (default 21.33%)", "20%", "1% per contact per day (default 0.2% per contact per day)"]
    assert "3 figures differ from the defaults" in _visible(page)


def test_cli_writes_the_report_and_refuses_an_unknown_run(saved: tuple[Path, int, int], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path, _, one = saved
    before = path.read_bytes()
    out = tmp_path / "run.html"
    code, stdout, err = run(capsys, "report", path, "--run", one, "--out", out)
    assert (code, err) == (0, "") and str(out) in stdout
    assert out.read_text(encoding="utf-8") == _load(path, one)[1]
    code, stdout, err = run(capsys, "report", path, "--run", 999, "--out", tmp_path / "no.html")
    assert code == 1 and stdout == "" and err.count("\n") == 1 and "no saved simulation run 999" in err
    assert not (tmp_path / "no.html").exists()
    junk = tmp_path / "junk.jstudio"
    junk.write_text("not a project")
    code, _, err = run(capsys, "report", junk, "--run", one, "--out", out)
    assert code == 1 and err.count("\n") == 1 and str(junk) in err
    assert path.read_bytes() == before  # opened read-only
