"""What `validate` passes, the later commands take: a journey the check for errors finds nothing wrong with (for
export) is exported, its segments counted, simulated and packaged without a refusal or an internal error.

The journeys are the seed templates (each validates as shipped) with their settings changed the way a marketer
might, to the edges of what the fields accept: waits and if/then limits from nothing to a century, dates from
1800 to 2999, quiet hours, frequencies, caps, goal windows, and segment condition values from 0 to the largest
number a condition takes. A change that makes the journey wrong must be reported by `validate`; one it lets
pass must not be refused later.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.cli.main import main
from app.codec.yamlio import parse_text, read_journey_text
from app.errors import JourneyStudioError
from app.model.project import Project
from app.model.values import MAX_NUMBER
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.validation.checks import check_journey

# each example runs five commands (about 2 s in all): a few in CI, FUZZ_EXAMPLES=500 for a long run
EXAMPLES = max(1, int(os.environ.get("FUZZ_EXAMPLES", "40")) // 6)
TEMPLATES = sorted(Path(resource_path("templates")).glob("*.yaml"))
_cases = itertools.count()

durations = st.sampled_from(["0s", "1s", "59m", "1h", "1d", "5d", "30d", "365d", "36525d"])
moments = st.sampled_from(["1800-01-01T00:00", "1999-12-31T23:59", "2026-11-30T09:00", "2026-12-01T09:00",
                           "2026-12-31T23:59", "2027-06-01T00:00", "2999-12-31T23:59"])
clock = st.sampled_from(["00:00", "08:00", "12:30", "21:00", "23:59"])
numbers = st.sampled_from([0, 1, 60, 275, 10**6, MAX_NUMBER, -MAX_NUMBER, 0.5, 1e15])


@st.composite
def changed_templates(draw: st.DrawFn) -> str:
    """A seed template with a few of its settings changed."""
    doc: dict[str, Any] = _plain(parse_text(draw(st.sampled_from(TEMPLATES)).read_text(encoding="utf-8")))
    steps: dict[str, Any] = doc["steps"]
    for c in doc.get("content", {}).values():  # finished, as before going live
        c["status"] = "ready"
        if c.get("kind") == "email":
            c.setdefault("sender", "news@shop.example")
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["wait", "within", "start", "end", "quiet", "frequency", "cap", "goal",
                                     "value", "split"]))
        if what == "wait":
            for s in steps.values():
                if s["type"] == "wait":
                    s.pop("duration", None)
                    s.pop("until", None)
                    if draw(st.booleans()):
                        s["duration"] = draw(durations)
                    else:
                        s["until"] = draw(moments)
        elif what == "within":
            for s in steps.values():
                if s["type"] == "if-then" and "within" in s:
                    s["within"] = draw(durations)
        elif what in ("start", "end"):
            doc["schedule"][what] = draw(moments)
        elif what == "quiet":
            doc["schedule"]["quiet_hours"] = {"start": draw(clock), "end": draw(clock)}
        elif what == "frequency":
            doc["frequency"] = draw(st.sampled_from(["one-time", "ongoing",
                                                     {"type": "repeating", "interval": "7d", "count": 3}]))
        elif what == "cap":
            doc["frequency_cap"] = {"messages": draw(st.integers(1, 5)), "per": draw(durations)}
        elif what == "goal" and doc.get("goal"):
            doc["goal"] = {**doc["goal"], "within": draw(durations)}
        elif what == "value":
            for seg in doc.get("segments", {}).values():
                for block in (seg.get("query") or {}).get("blocks", []):
                    for cond in block.get("where", {}).get("all", []):
                        if isinstance(cond.get("value"), (int, float)):
                            cond["value"] = draw(numbers)
        elif what == "split":
            for s in steps.values():
                if s["type"] == "split" and isinstance(s.get("paths"), list):
                    for p in s["paths"]:
                        p["share"] = draw(st.integers(0, 100))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _plain(v: Any) -> Any:
    """A parsed document as plain dicts and lists (for yaml.safe_dump)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _invoke(*args: str) -> tuple[int, str]:
    """Run a command as `journey-studio` does (a user error is one line and exit status 2): (status, output)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(list(args))
    return status, out.getvalue()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(changed_templates())
def test_a_journey_that_validates_is_exported_counted_simulated_and_packaged(tmp_path: Path, text: str) -> None:
    try:
        journey, contents, segments = read_journey_text(text)
        project = Project("Promises")
        import_journey(project, journey, contents, segments)
    except JourneyStudioError:
        assume(False)  # refused on import, in one line (tests/test_fuzz_inputs.py): not what this test is about
        return
    j = project.journeys[0]
    findings = check_journey(j, project, for_export=True)
    assume(not any(f.is_error for f in findings))
    warned = {f.message.split("'")[1] for f in findings if f.code == "segment-no-query"}
    folder = tmp_path / f"case{next(_cases)}"
    folder.mkdir()
    path = folder / "p.jstudio"
    ProjectFile.create(path, project=project).close()
    used = sorted(s for s in project.segments if s in text)
    commands = [["validate", str(path), "--journey", j.name, "--for-export"],
                ["export", str(path), "--journey", j.name, "--out", str(folder / "j.yaml")],
                *(["segment", "count", str(path), name] for name in used if name not in warned),
                ["simulate", str(path), "--journey", j.name, "--contacts", "300", "--seed", "3"],
                ["package", str(path), "--journey", j.name, "--out", str(folder / "j.jpkg")]]
    for args in commands:
        status, output = _invoke(*args)
        assert status == 0, f"validate passed, but {' '.join(args[:2])} said: {output}\n{text}"
    for name in warned:  # what validate warned of is what counting refuses, in one line
        status, output = _invoke("segment", "count", str(path), name)
        assert status == 2 and "has no query yet" in output and output.count("\n") == 1, output
