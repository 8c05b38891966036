"""The check for errors: one test per rule, robustness on malformed input, and speed on a large journey."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.codec.yamlio import parse_text, read_journey_text
from app.errors import FormatError
from app.model.attributes import CONSENT_LEVELS, CONTACT_EVENTS, MESSAGE_EVENTS, OPERATORS
from app.model.content import Content
from app.model.journey import (Audience, Frequency, FrequencyCap, Journey, QuietHours, Schedule, Step,
                               Trigger)
from app.model.project import Project
from app.model.registry import REGISTRY
from app.model.segment import Segment
from app.validation import checks
from app.validation.checks import check_journey, check_project, has_errors
from app.validation.findings import Finding, Severity
from tests.samples import ANNOUNCEMENT

EXAMPLE = ANNOUNCEMENT  # with its segments defined (a query, a static list, a subscription list)



# --- helpers ---------------------------------------------------------------------------------------------

def load(text: str) -> tuple[Journey, Project]:
    """A journey read from a journey file, in a project holding the file's content and segments."""
    journey, contents, segments = read_journey_text(text, journey_id="j1")
    project = Project("Test")
    project.add_journey(journey)
    for c in contents:
        project.put_content(c)
    for s in segments:
        project.put_segment(s)
    return journey, project


def example_doc() -> dict[str, Any]:
    """The example journey as plain values, to edit and reload with `load_doc`."""
    return json.loads(json.dumps(parse_text(EXAMPLE)))


def load_doc(doc: dict[str, Any]) -> tuple[Journey, Project]:
    return load(json.dumps(doc))  # JSON is YAML


def check(doc_or_text: dict[str, Any] | str, *, for_export: bool = False) -> list[Finding]:
    journey, project = load(doc_or_text) if isinstance(doc_or_text, str) else load_doc(doc_or_text)
    return check_journey(journey, project, for_export=for_export)


def with_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def minimal(steps: str, *, extra: str = "", content: str = "", segments: str = "") -> str:
    """A small valid journey document around the given steps (YAML, indented two spaces)."""
    return f"""\
format: journey/1
name: Test
audience: {{segments: [Everyone]}}
schedule: {{start: 2026-12-01T09:00, end: 2027-01-31T00:00}}
{extra}
steps:
{steps}
content:
  Mail: {{kind: email, subject: Hello, status: ready, links: [shop]}}
  Text: {{kind: sms, text: Hi, status: ready}}
{content}
segments:
  Everyone: {{entity: contacts, kind: static}}
{segments}
"""


# --- the example ------------------------------------------------------------------------------------------

def test_example_is_valid_in_every_mode() -> None:
    journey, project = load(EXAMPLE)
    assert check_journey(journey, project) == []
    assert check_journey(journey, project, for_export=True) == []
    assert check_journey(journey) == []  # without a project, references cannot be resolved: not findings


def test_check_project_returns_findings_by_journey_name() -> None:
    journey, project = load(EXAMPLE)
    other = journey.clone(id="j2", name="Second")
    other.update(audience=Audience())
    project.add_journey(other)
    result = check_project(project, for_export=True)
    assert set(result) == {"Product announcement", "Second"}
    assert result["Product announcement"] == []
    assert codes(result["Second"]) == ["no-audience"]
    assert all(f.journey == "Second" for f in result["Second"])


# --- 1-4: audience and segments ---------------------------------------------------------------------------

def test_no_audience() -> None:
    doc = example_doc()
    doc["audience"] = {"segments": []}
    [f] = check(doc)
    assert (f.code, f.severity, f.field, f.step) == ("no-audience", Severity.ERROR, "audience", None)
    assert f.journey == "Product announcement" and f.fix


def test_unknown_segment_in_audience_exclusion_suppression_exit_and_branch() -> None:
    doc = example_doc()
    doc["audience"] = {"segments": ["Ghost A"], "exclude": ["Ghost B"], "suppress": "Ghost C"}
    doc["exit_when"] = [{"segment": "Ghost D", "when": "joins"}]
    doc["steps"]["clicked"] = {"type": "if-then", "segment": "Ghost E", "yes": "launch", "no": "end"}
    findings = check(doc)
    unknown = with_code(findings, "unknown-segment")
    assert {f.field for f in unknown} == {"audience.segments", "audience.exclude", "audience.suppress",
                                          "exit_when", "segment"}
    assert all(f.is_error for f in unknown)
    assert any("Ghost E" in f.message and f.step == "clicked" for f in unknown)
    journey, _ = load_doc(doc)
    assert with_code(check_journey(journey), "unknown-segment") == []  # only decidable with a project


def test_segment_of_the_wrong_entity() -> None:
    doc = example_doc()
    doc["segments"]["Do not contact"] = {"entity": "accounts"}
    doc["segments"]["Unsubscribed"] = {"entity": "accounts"}
    wrong = with_code(check(doc), "segment-wrong-entity")
    assert {f.field for f in wrong} == {"audience.exclude", "audience.suppress"}
    assert "holds accounts" in wrong[0].message and "targets contacts" in wrong[0].message


def test_exclusion_equal_to_audience() -> None:
    doc = example_doc()
    doc["audience"]["exclude"] = ["Most valuable customers"]
    [f] = with_code(check(doc), "exclude-equals-audience")
    assert "nobody would enter" in f.message and f.is_error
    doc["audience"]["segments"].append("Do not contact")
    [f] = with_code(check(doc), "exclude-equals-audience")
    assert "its members can never enter" in f.message


# --- 5-9: the graph ---------------------------------------------------------------------------------------

def test_no_steps() -> None:
    doc = example_doc()
    doc["steps"] = {}
    assert codes(check(doc)) == ["no-steps"]


def test_entry_missing() -> None:
    journey, project = load(EXAMPLE)
    journey.set_entry(None)
    [f] = check_journey(journey, project)
    assert (f.code, f.field) == ("no-entry", "entry")
    journey.entry = "ghost"  # only malformed construction gets here
    assert "'ghost' is not a step" in with_code(check_journey(journey, project), "no-entry")[0].message


def test_unreachable_steps() -> None:
    doc = example_doc()
    doc["steps"]["orphan"] = {"type": "sms", "content": "Product launched text", "next": "orphan2"}
    doc["steps"]["orphan2"] = {"type": "exit"}
    unreachable = with_code(check(doc), "unreachable-step")
    assert [f.step for f in unreachable] == ["orphan", "orphan2"]
    assert "cannot be reached from the entry step 'Product announcement email'" in unreachable[0].message


def test_cycle_names_each_step_once() -> None:
    text = minimal("""\
  first: {type: email, content: Mail, next: wait}
  wait: {type: wait, duration: 1d, next: again}
  again: {type: sms, content: Text, next: wait}
""")
    [f] = with_code(check(text), "cycle")
    assert f.step == "wait" and f.is_error
    assert f.message.count("'Wait for 1 day'") == 1 and f.message.count("'Text'") == 1 and "'Mail'" not in f.message


def test_self_loop_is_a_cycle() -> None:
    journey, project = load(minimal("  first: {type: email, content: Mail}\n"))
    journey.steps["first"].outputs["next"] = "first"  # refused by connect() and the file reader
    [f] = with_code(check_journey(journey, project), "cycle")
    assert "links to itself" in f.message


def test_cycles_in_a_big_graph_do_not_hang() -> None:
    journey = Journey("big", "Big", audience=Audience(segments=("Everyone",)),
                      schedule=Schedule(start=datetime(2026, 12, 1)))
    n = 3000
    for i in range(n):
        journey.add_step(Step(f"s{i}", "wait", props={"duration": timedelta(days=1)},
                              outputs={"next": f"s{(i + 1) % n}"}))
    findings = check_journey(journey)  # (a cycle search that does not scan every path: it returns)
    [f] = with_code(findings, "cycle")
    assert f"and {n - 8} more" in f.message


def test_dangling_link() -> None:
    journey, project = load(EXAMPLE)
    journey.steps["launch"].outputs["next"] = "ghost"  # malformed construction: the reader refuses it
    [f] = with_code(check_journey(journey, project), "dangling-link")
    assert (f.step, f.field) == ("launch", "next") and "'ghost'" in f.message
    assert with_code(check_journey(journey, project), "unreachable-step")[0].step == "launched"


def test_link_from_an_output_the_tile_does_not_have() -> None:
    journey, project = load(EXAMPLE)
    journey.steps["announce"].outputs["yes"] = "launched"
    [f] = with_code(check_journey(journey, project), "unknown-output")
    assert (f.step, f.field) == ("announce", "yes")


def test_unconnected_branch_outputs_warn() -> None:
    text = minimal("""\
  first: {type: email, content: Mail, next: branch}
  branch: {type: if-then, wait_for: {event: opened, step: first}, within: 1d, yes: split}
  split: {type: ab-split, split: [40, 30, 30], A: last, C: end}
  last: {type: sms, content: Text}
""")
    unconnected = with_code(check(text), "unconnected-output")
    assert [(f.step, f.field) for f in unconnected] == [("branch", "no"), ("split", "B")]
    assert all(f.severity is Severity.WARNING and "contacts exit there" in f.message for f in unconnected)
    # 'last' has no next (the journey ends there) and C leads to end explicitly: neither is a finding


# --- 10-12: messages, if/then ordering, waits -------------------------------------------------------------

@pytest.mark.parametrize("for_export, severity", [(False, Severity.WARNING), (True, Severity.ERROR)])
def test_message_content_missing_or_draft(for_export: bool, severity: Severity) -> None:
    text = minimal("""\
  first: {type: email, next: second}
  second: {type: sms, content: Draft text}
""", content="  Draft text: {kind: sms, text: Soon, status: draft}")
    findings = check(text, for_export=for_export)
    [missing] = with_code(findings, "message-without-content")
    [draft] = with_code(findings, "content-not-ready")
    assert (missing.step, missing.severity) == ("first", severity)
    assert (draft.step, draft.severity) == ("second", severity)


def test_if_then_waiting_on_a_message_not_on_every_path() -> None:
    text = minimal("""\
  split: {type: random-split, A: mail, B: text}
  mail: {type: email, content: Mail, next: check}
  text: {type: sms, content: Text, next: check}
  check: {type: if-then, wait_for: {event: opened, step: mail}, within: 2d, yes: end, no: end}
""")
    [f] = with_code(check(text), "if-then-message-not-on-every-path")
    assert (f.step, f.field) == ("check", "wait_for") and "'Mail'" in f.message
    assert not with_code(check(text.replace("A: mail, B: text", "A: mail, B: mail")),
                         "if-then-message-not-on-every-path")


def test_if_then_waiting_on_a_later_message() -> None:
    text = minimal("""\
  check: {type: if-then, wait_for: {event: opened, step: mail}, within: 2d, yes: mail, no: end}
  mail: {type: email, content: Mail}
""")
    findings = check(text)
    [f] = with_code(findings, "if-then-message-after")
    assert f.step == "check" and not with_code(findings, "if-then-message-not-on-every-path")


def test_wait_until_before_the_journey_start() -> None:
    doc = example_doc()
    doc["steps"]["launch"]["until"] = "2026-11-30T09:00"
    [f] = with_code(check(doc), "wait-until-before-start")
    assert (f.step, f.field) == ("launch", "until") and f.is_error


# --- 13-14: schedule and recurrence -----------------------------------------------------------------------

def test_recurrence_that_does_not_fit_between_start_and_end() -> None:
    doc = example_doc()  # 2026-12-01T09:00 to 2027-01-31T00:00: 60 days 15 hours
    doc["frequency"] = {"type": "repeating", "interval": "7d", "count": 9}
    [f] = with_code(check(doc), "recurrence-does-not-fit")
    assert f.field == "frequency" and "at most 8" in f.fix
    doc["frequency"]["count"] = 8
    assert not with_code(check(doc), "recurrence-does-not-fit")


def test_recurrence_without_interval_or_count_or_dates() -> None:
    doc = example_doc()
    doc["frequency"] = {"type": "repeating", "interval": "7d"}
    [f] = with_code(check(doc), "recurrence-incomplete")
    assert "no count" in f.message
    doc["frequency"]["count"] = 2
    del doc["schedule"]["end"]
    [f] = with_code(check(doc), "recurrence-needs-dates")
    assert "no end" in f.message


def test_end_before_or_at_start() -> None:
    doc = example_doc()
    doc["schedule"]["end"] = "2026-11-01T00:00"
    [f] = with_code(check(doc), "end-before-start")
    assert f.field == "schedule.end" and "before it starts" in f.message
    doc["schedule"]["end"] = doc["schedule"]["start"]
    assert with_code(check(doc), "end-before-start")


@pytest.mark.parametrize("for_export, severity", [(False, Severity.WARNING), (True, Severity.ERROR)])
def test_missing_start_date(for_export: bool, severity: Severity) -> None:
    doc = example_doc()
    del doc["schedule"]["start"]
    [f] = with_code(check(doc, for_export=for_export), "no-start")
    assert f.severity is severity and "cannot go live" in f.message


# --- 15-17, 19: splits, tokens, consent, quiet hours, caps, events, action steps --------------------------

def test_split_percentages_must_add_up_with_the_holdout() -> None:
    steps = "  split: {type: ab-split, split: [50, 40], %s A: end, B: end}\n"
    [f] = with_code(check(minimal(steps % "")), "split-sum")
    assert "90%" in f.message and f.step == "split"
    assert not with_code(check(minimal(steps % "holdout: 10,")), "split-sum")
    [f] = with_code(check(minimal(steps.replace("ab-split", "random-split") % "holdout: 20,")), "split-sum")
    assert "and holdout add up to 110%" in f.message


def test_personalization_token_naming_no_attribute() -> None:
    text = minimal("  first: {type: email, content: Personal}\n",
                   content="  Personal: {kind: email, status: ready, subject: 'Hi {{first_name}}', "
                           "body: '{{ contact.shoe_size }} {{account.name}}'}")
    [f] = with_code(check(text), "unknown-token")
    assert "{{shoe_size}}" in f.message and "'Personal'" in f.message and (f.step, f.field) == ("first", "content")
    journey, project = load(text)
    project.update_settings(custom_attributes={"shoe_size": "number"})
    assert not with_code(check_journey(journey, project), "unknown-token")


def test_unknown_minimum_consent_level() -> None:
    journey, project = load(EXAMPLE)
    journey.update(audience=Audience(segments=("Most valuable customers",), min_consent="whatever"))
    [f] = check_journey(journey, project)
    assert (f.code, f.field) == ("unknown-consent-level", "audience.min_consent")


def test_quiet_hours_that_start_when_they_end() -> None:
    doc = example_doc()
    doc["schedule"]["quiet_hours"] = {"start": "21:00", "end": "21:00"}
    [f] = check(doc)
    assert (f.code, f.severity) == ("quiet-hours-empty", Severity.WARNING)


def test_frequency_cap_needs_a_message_and_a_period() -> None:
    journey, project = load(EXAMPLE)
    journey.update(frequency_cap=FrequencyCap(0, timedelta(0)))  # the file reader refuses these
    assert codes(check_journey(journey, project)) == ["frequency-cap-messages", "frequency-cap-period"]


def test_unknown_goal_and_exit_events_warn() -> None:
    doc = example_doc()
    doc["goal"] = {"event": "bought_a_boat"}
    doc["exit_when"] = [{"event": "purchase"}, {"event": "teleported"}]
    unknown = check(doc)
    assert [(f.code, f.field, f.severity) for f in unknown] == [
        ("unknown-event", "goal", Severity.WARNING), ("unknown-event", "exit_when", Severity.WARNING)]


def test_webhook_and_required_properties() -> None:
    text = minimal("""\
  hook: {type: webhook, url: "ftp://example.com", next: task}
  task: {type: task}
""")
    findings = check(text)
    assert [(f.code, f.step, f.field) for f in findings] == [
        ("webhook-url", "hook", "url"), ("required-property", "task", "subject")]
    broken = check(minimal('  hook: {type: webhook, url: "http://[oops"}\n'))  # urlparse raises on it
    assert codes(broken) == ["webhook-url"]


# --- malformed construction -------------------------------------------------------------------------------

def test_unknown_tile_type_skips_type_checks() -> None:
    journey, project = load(EXAMPLE)
    journey.add_step(Step("odd", "teleport", props={"within": "abc"}), index=1)
    journey.connect("launched", "next", "odd")
    [f] = check_journey(journey, project)
    assert (f.code, f.step, f.field) == ("unknown-tile-type", "odd", "type")


def test_properties_of_the_wrong_type_are_reported_and_skip_type_checks() -> None:
    journey, project = load(EXAMPLE)
    journey.steps["clicked"].props.update(within="abc", colour="red")
    journey.steps["launched"].props["content"] = 3
    findings = check_journey(journey, project)
    assert [(f.code, f.step, f.field) for f in findings] == [
        ("invalid-property", "clicked", "within"), ("invalid-property", "launched", "content"),
        ("unknown-property", "clicked", "colour")]
    assert "'abc'" in findings[0].message


def test_a_failing_rule_becomes_one_finding_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: Any) -> Any:
        raise RuntimeError("boom")
    monkeypatch.setattr(checks, "RULES", (broken,) + checks.RULES)
    journey, project = load(EXAMPLE)
    journey.update(audience=Audience())
    findings = check_journey(journey, project)
    [failed] = with_code(findings, "check-failed")
    assert "'broken'" in failed.message and "RuntimeError: boom" in failed.message
    assert with_code(findings, "no-audience")


def test_a_failing_tile_check_names_its_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(step: Step, ctx: Any) -> Any:
        raise KeyError("x")
    tile = REGISTRY["wait"]
    monkeypatch.setitem(REGISTRY, "wait", type(tile)(**{**tile.__dict__, "checks": (broken,)}))
    journey, project = load(EXAMPLE)
    [f] = check_journey(journey, project)
    assert (f.code, f.step) == ("check-failed", "launch") and "wait: broken" in f.message


def test_findings_are_sorted_errors_first_then_by_step_order() -> None:
    text = minimal("""\
  first: {type: if-then, segment: Everyone, yes: mail}
  mail: {type: email, next: hook}
  hook: {type: webhook}
""")
    findings = check(text)
    assert [(f.severity.value, f.step, f.code) for f in findings] == [
        ("error", "hook", "webhook-url"),
        ("warning", "first", "unconnected-output"),
        ("warning", "mail", "message-without-content")]
    assert has_errors(findings) and not has_errors(findings[1:])


# --- robustness -------------------------------------------------------------------------------------------

_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
            | st.timedeltas() | st.datetimes() | st.times())
ANY = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
IDS = [f"s{i}" for i in range(6)]
NAMES = ["Mail", "Text", "Push", "Everyone", "Accounts", "Ghost", ""]
PROP_NAMES = sorted({p.name for t in REGISTRY.values() for p in t.props})


def _plausible(name: str) -> st.SearchStrategy[Any]:
    """Values of roughly the right shape for a property, to reach deep into the checks."""
    return {
        "wait_for": st.fixed_dictionaries(
            {"event": st.sampled_from([e for es in MESSAGE_EVENTS.values() for e in es] + ["x"]),
             "step": st.sampled_from(IDS + ["end", "ghost"])},
            optional={"link": st.sampled_from(["shop", "none"])}),
        "condition": st.fixed_dictionaries(
            {"attribute": st.sampled_from(["first_name", "lifetime_value", "nope", ""]),
             "op": st.sampled_from(list(OPERATORS) + ["zz"])}, optional={"value": ANY}),
        "split": st.lists(st.integers(-10, 120) | st.floats(allow_nan=True), max_size=12),
        "holdout": st.integers(-10, 120) | st.floats(),
        "within": st.timedeltas(), "duration": st.timedeltas(), "due_in": st.timedeltas(),
        "until": st.datetimes(),
        "content": st.sampled_from(NAMES), "segment": st.sampled_from(NAMES),
        "url": st.sampled_from(["https://x.example", "http://[", "ftp://x", ""]),
    }.get(name, st.text(max_size=12))


@st.composite
def _steps(draw: Any) -> list[Step]:
    steps = []
    for sid in IDS[:draw(st.integers(0, len(IDS)))]:
        type_id = draw(st.sampled_from(list(REGISTRY)) | st.text(max_size=8))
        own = [p.name for p in REGISTRY[type_id].props] if type_id in REGISTRY else []
        prop_names = st.sampled_from(own) if own and draw(st.booleans()) else st.sampled_from(PROP_NAMES + ["bogus"])
        props = {name: draw(_plausible(name) | ANY) for name in draw(st.lists(prop_names, max_size=5, unique=True))}
        outputs = draw(st.dictionaries(st.sampled_from(["next", "yes", "no", "A", "B", "C", "Q"]),
                                       st.sampled_from(IDS + ["end", "ghost"]), max_size=4))
        steps.append(Step(sid, type_id, props=props, outputs=outputs))
    return steps


@st.composite
def random_journeys(draw: Any) -> tuple[Journey, Project | None]:
    maybe = lambda s: st.none() | s  # noqa: E731
    names = st.lists(st.sampled_from(NAMES), max_size=3).map(tuple)
    trigger = st.builds(Trigger, event=maybe(st.sampled_from(list(CONTACT_EVENTS) + ["x"])),
                        segment=maybe(st.sampled_from(NAMES)), when=maybe(st.sampled_from(["joins", "leaves"])))
    journey = Journey(
        "j", "Random", target=draw(st.sampled_from(["contacts", "accounts"])),
        audience=Audience(draw(names), draw(st.sampled_from(["union", "intersection"])), draw(names),
                          draw(maybe(st.sampled_from(NAMES))),
                          draw(maybe(st.sampled_from(list(CONSENT_LEVELS) + ["x"])))),
        frequency=Frequency(draw(st.sampled_from(["one-time", "ongoing", "repeating"])),
                            draw(maybe(st.timedeltas())), draw(maybe(st.integers()))),
        schedule=Schedule(draw(maybe(st.datetimes())), draw(maybe(st.datetimes())),
                          quiet_hours=draw(maybe(st.builds(QuietHours, st.times(), st.times())))),
        goal=draw(maybe(trigger)), exit_when=draw(st.lists(trigger, max_size=2)),
        frequency_cap=draw(maybe(st.builds(FrequencyCap, st.integers(), st.timedeltas()))))
    for step in draw(_steps()):
        journey.add_step(step)
    journey.entry = draw(st.sampled_from([journey.entry, None, "ghost"] + IDS))
    if draw(st.booleans()):
        return journey, None
    project = Project()
    for name, kind in zip(NAMES[:3], ("email", "sms", "push")):
        project.put_content(Content(name, draw(st.sampled_from([kind, "email"])),  # type: ignore[arg-type]
                                    draw(st.sampled_from(["draft", "ready"])),  # type: ignore[arg-type]
                                    subject=draw(st.sampled_from(["", "{{first_name}}", "{{nope}}", "{{}}"])),
                                    links=("shop",)))
    for name in NAMES[3:5]:
        project.put_segment(Segment(name, draw(st.sampled_from(["contacts", "accounts"])), "static"))  # type: ignore
    return journey, project


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_journeys(), st.booleans())
def test_random_journeys_never_break_the_checker(case: tuple[Journey, Project | None], for_export: bool) -> None:
    journey, project = case
    findings = check_journey(journey, project, for_export=for_export)
    assert isinstance(findings, list) and all(isinstance(f, Finding) for f in findings)
    assert [f for f in findings if f.code == "check-failed"] == []
    assert findings == sorted(findings, key=lambda f: not f.is_error)


def _read_or_format_error(text: str) -> None:
    try:
        read_journey_text(text)
    except FormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_random_text_reads_or_raises_format_error(text: str) -> None:
    _read_or_format_error(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(EXAMPLE)), st.integers(0, 30), st.text(max_size=20))
def test_mangled_journey_files_read_or_raise_format_error(at: int, cut: int, insert: str) -> None:
    _read_or_format_error(EXAMPLE[:at] + insert + EXAMPLE[at + cut:])


@pytest.mark.parametrize("text", [
    "a: \x00",                                                              # control character
    "[" * 5000,                                                             # nested too deeply
    minimal("  w: {type: wait, duration: 99999999999999999999d}\n"),       # duration out of range
    minimal("  w: {type: wait, duration: .inf}\n"),
    minimal("  w: {type: [wait]}\n"),                                       # unhashable tile type
    minimal("  w: {type: exit}\n") + "entry: [w]\n",                        # unhashable entry
    minimal("  w: {type: exit}\n") + "layout: {w: [.nan, 1]}\n",            # non-finite position
    minimal("  w: {type: exit}\n", content="  7: {kind: sms}"),             # content name not text
])
def test_malformed_files_raise_format_error(text: str) -> None:
    with pytest.raises(FormatError):
        read_journey_text(text)


# --- speed ------------------------------------------------------------------------------------------------

def big_journey(n: int = 1000) -> tuple[Journey, Project]:
    """A long chain of messages with an if/then every 10 steps and a split every 50."""
    project = Project()
    project.put_content(Content("Mail", "email", "ready", subject="Hi {{first_name}}", links=("shop",)))
    project.put_segment(Segment("Everyone", kind="static"))
    journey = Journey("big", "Big", audience=Audience(segments=("Everyone",)),
                      schedule=Schedule(start=datetime(2026, 12, 1), end=datetime(2027, 12, 1)))
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "end"
        if i % 50 == 49:
            step = Step(f"s{i}", "ab-split", props={"split": (50, 50)}, outputs={"A": nxt, "B": nxt})
        elif i % 10 == 9:
            step = Step(f"s{i}", "if-then", props={"wait_for": {"event": "opened", "step": f"s{i - 1}"},
                                                   "within": timedelta(days=1)}, outputs={"yes": nxt, "no": nxt})
        else:
            step = Step(f"s{i}", "email", props={"content": "Mail"}, outputs={"next": nxt})
        journey.add_step(step)
    project.add_journey(journey)
    return journey, project


def test_a_thousand_steps_check_clean() -> None:
    journey, project = big_journey(1000)
    findings = check_journey(journey, project, for_export=True)  # (how long: benchmarks/bench_foundation.py)
    assert findings == []


@st.composite
def _flow_journeys(draw: Any) -> tuple[Journey, Project]:
    """Well-typed journeys of messages, if/thens and splits with random links (loops included)."""
    journey, project = load(minimal("  s0: {type: email, content: Mail}\n"))
    journey.remove_step("s0")
    ids = IDS[:draw(st.integers(1, len(IDS)))]
    for sid in ids:
        kind = draw(st.sampled_from(["email", "sms", "if-then", "random-split"]))
        props: dict[str, Any] = {"email": {"content": "Mail"}, "sms": {"content": "Text"}, "random-split": {
            "split": (50, 50)}}.get(kind, {"wait_for": {"event": "delivered", "step": draw(st.sampled_from(ids))},
                                           "within": timedelta(days=1)})
        ports = {"email": ["next"], "sms": ["next"], "if-then": ["yes", "no"], "random-split": ["A", "B"]}[kind]
        outputs = draw(st.dictionaries(st.sampled_from(ports), st.sampled_from(ids + ["end"]), max_size=2))
        journey.add_step(Step(sid, kind, props=props, outputs=outputs))
    return journey, project


def _reaches_without(journey: Journey, avoid: str, goal: str) -> bool:
    """Brute force: can a contact get from the entry to `goal` without passing `avoid`?"""
    todo, seen = [journey.entry], set()
    while todo:
        sid = todo.pop()
        if sid == goal:
            return True
        if sid in seen or sid == avoid:
            continue
        seen.add(sid)
        todo += [t for _, t in journey.successors(sid)]
    return False


@settings(max_examples=300, deadline=None)
@given(_flow_journeys())
def test_if_then_ordering_agrees_with_brute_force(case: tuple[Journey, Project]) -> None:
    journey, project = case
    findings = check_journey(journey, project)
    assert not with_code(findings, "check-failed")
    flagged = {f.step for f in findings if f.code.startswith("if-then-message-")}
    unreachable = {f.step for f in with_code(findings, "unreachable-step")}
    expected = set()
    for step in journey:
        source = step.props.get("wait_for", {}).get("step")
        if (step.type == "if-then" and step.id not in unreachable and source != step.id
                and journey.steps[source].type in ("email", "sms")
                and _reaches_without(journey, source, step.id)):
            expected.add(step.id)
    assert flagged == expected
