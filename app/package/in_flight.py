"""Versions in flight: what publishing version N+1 of a live journey does to the contacts still on version N.

For every step of N a contact may be at, one of three things: `finish` (stay on N and finish there, as if N+1 had
not been published), `move` (continue on N+1 at a step of it: by default the step of the same id; a step N+1
removes needs a step chosen by the user) or `leave` (leave the journey there). The user chooses a default for all
(`move`: steps kept by id move to the same step; `finish`: everybody finishes on N) and the steps that differ.

`resolve` turns the choice into one decision per step of N and refuses, one line per problem, what cannot be
carried out: a step N does not have, a target N+1 does not have or that nobody can be put on (an exit: say
`leave`), an if/then waiting for an event on a message N never sent, a removed step where contacts wait left
without a choice. The resolved plan is carried in N+1's package manifest (`in_flight`, bounded: one entry per step
of N, at most MAX_STEPS) and checked again when read. `preview` says, with the live counts per step of the run of
N (`journey-studio status`), what will happen to whom; the Go live dialog and `package` show it.

Pure: no Qt, no runner, no project file; journeys are the model's (app.model.journey.Journey).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from app.errors import JourneyStudioError
from app.model.journey import Journey, Step
from app.model.registry import REGISTRY

FORMAT = "in-flight/1"
FINISH, MOVE, LEAVE = "finish", "move", "leave"
ACTIONS = (FINISH, MOVE, LEAVE)
DEFAULTS = (FINISH, MOVE)
MAX_STEPS = 2000          # steps of N a plan decides for (a manifest stays small)
MAX_ID = 200              # characters of a step id
MAX_COUNT = 10**12        # contacts a preview counts at one step
_ID = re.compile(r"^[^\x00-\x1f]{1,200}$")

# said wherever a plan that moves or removes contacts is made, and by a run that does not carry it out
RUNNER_NOTE = ("The plan is carried out when this version is run with --replaces and the state folder of the run "
               "of version {old} (NAME.jpkg.run); run without it, the contacts on version {old} finish on version "
               "{old}")

# why a step got its decision, as the preview and `package` say it
KEPT, CHOSEN, DEFAULT, FLEETING = "kept", "chosen", "default", "fleeting"
EVENTS = "events"  # waiting for an event of a message sent on N: its events come to N's run, so it finishes there


class InFlightError(JourneyStudioError):
    """A plan for contacts in flight that cannot be carried out; `lines` has every problem, one each."""

    def __init__(self, message: str, lines: Sequence[str] = ()) -> None:
        self.lines = list(lines)
        super().__init__(message)


@dataclass(frozen=True)
class InFlight:
    """What the user chose for contacts in flight on version `from_version`: a default and the steps that differ."""

    from_version: int = 0                                 # 0: the last version released before the new one
    default: str = MOVE                                   # FINISH or MOVE
    moves: Mapping[str, str] = field(default_factory=dict)  # step of N -> step of N+1
    leave: frozenset[str] = frozenset()                   # steps of N whose contacts leave the journey
    finish: frozenset[str] = frozenset()                  # steps of N whose contacts finish on N (default: move)


@dataclass(frozen=True)
class Decision:
    """What happens to the contacts at one step of N."""

    step: str                 # the step of N
    action: str               # FINISH, MOVE or LEAVE
    target: str | None = None  # the step of N+1 (MOVE only)
    why: str = DEFAULT         # KEPT (same id in N+1), CHOSEN (by the user), DEFAULT, FLEETING, EVENTS (resolve)


@dataclass(frozen=True)
class Plan:
    """The resolved plan: one decision per step of N (what the manifest carries)."""

    from_version: int
    to_version: int
    default: str
    decisions: Mapping[str, Decision]

    def decision(self, step: str) -> Decision:
        """The decision for a step of N; a step the plan does not know (not of N) finishes on N."""
        return self.decisions.get(step) or Decision(step, FINISH, None, DEFAULT)

    def counts(self) -> dict[str, int]:
        """How many steps of N finish, move and leave."""
        out = {a: 0 for a in ACTIONS}
        for d in self.decisions.values():
            out[d.action] += 1
        return out

    def summary(self) -> str:
        """One line (a milestone's detail): 'contacts in flight on version 3: moved to version 4 (1 step chosen:
        wait5 -> sms), 1 step leaves (gone)'."""
        chosen = [d for d in self.decisions.values() if d.why == CHOSEN]
        parts = [f"{d.step} -> {d.target}" if d.action == MOVE else f"{d.step}: {d.action}" for d in chosen[:10]]
        more = f" and {len(chosen) - 10} more" if len(chosen) > 10 else ""
        head = (f"contacts in flight on version {self.from_version} "
                + ("move to the same steps of" if self.default == MOVE else "finish on their version; not moved to")
                + f" version {self.to_version}")
        return head + (f"; chosen: {', '.join(parts)}{more}" if parts else "")

    def runner_note(self) -> str | None:
        """How the live runner carries out this plan (RUNNER_NOTE), when it moves or removes anyone."""
        if not any(d.action != FINISH for d in self.decisions.values()):
            return None
        return RUNNER_NOTE.format(old=self.from_version)

    def to_plain(self) -> dict[str, Any]:
        """The manifest's `in_flight`."""
        return {"format": FORMAT, "from_version": self.from_version, "to_version": self.to_version,
                "default": self.default,
                "steps": {d.step: ({"action": d.action, "target": d.target, "why": d.why} if d.action == MOVE
                                   else {"action": d.action, "why": d.why}) for d in self.decisions.values()}}


# --- where contacts can be ------------------------------------------------------------------------------------

def waits_at(step: Step) -> bool:
    """Whether contacts stay at a step for a while (a wait, an if/then waiting for an event within a time): the
    steps contacts are found at when a new version is published. At other steps a contact is there only for the
    moment its move takes (a send, a test of an attribute)."""
    return step.type == "wait" or (step.type == "if-then" and bool(step.props.get("wait_for")))


def _name(j: Journey, step_id: str) -> str:
    step = j.steps.get(step_id)
    return step.display_name if step is not None else step_id


def _is_message(step: Step) -> bool:
    tile = REGISTRY.get(step.type)
    return tile is not None and tile.channel is not None


def _walk(j: Journey, start: str, forward: bool) -> set[str]:
    """The steps reachable from `start` (itself included), along the links (`forward`) or against them."""
    back: dict[str, list[str]] = {}
    if not forward:
        for sid, source in j.steps.items():
            for target in source.outputs.values():
                back.setdefault(target, []).append(sid)
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        at = j.steps.get(here)
        nexts = (list(at.outputs.values()) if at is not None else []) if forward else back.get(here, [])
        for n in nexts:
            if n not in seen and n in j.steps:
                seen.add(n)
                todo.append(n)
    return seen


def sent_again(j_old: Journey, j_new: Journey, step: str, target: str) -> list[str]:
    """Message steps a contact at `step` of N may have been sent already (on a path to it in N, or the step itself)
    that N+1 would send again from `target` (the same step id: the same message): a move there is refused."""
    before = _walk(j_old, step, forward=False)
    after = _walk(j_new, target, forward=True)
    return [m for m in j_old.steps if m in before and m in after and m in j_new.steps
            and _is_message(j_old.steps[m]) and _is_message(j_new.steps[m])]


def waits_for_message(step: Step) -> bool:
    """Whether a step is an if/then waiting for an event of a message (whose events come to the run that sent it)."""
    return _event_step(step) is not None


def _event_step(step: Step) -> str | None:
    wait_for = step.props.get("wait_for") if step.type == "if-then" else None
    source = wait_for.get("step") if isinstance(wait_for, Mapping) else None
    return str(source) if isinstance(source, str) and source else None


# --- resolving a choice -------------------------------------------------------------------------------------

def _target_problems(j_old: Journey, j_new: Journey, step: str, target: str, to_version: int) -> list[str]:
    """Why contacts at `step` of N cannot move to `target` of N+1 (none: they can)."""
    where = f"--move {step}={target}"
    t = j_new.steps.get(target)
    if t is None:
        near = ", ".join(sorted(j_new.steps)[:12])
        return [f"{where}: version {to_version} has no step '{target}' (its steps: {near})"]
    if t.type == "exit":
        return [f"{where}: step '{target}' is an exit, which ends the journey: contacts cannot wait there (use "
                f"--leave {step})"]
    source = _event_step(t)
    if source is not None and source not in j_old.steps:
        return [f"{where}: '{t.display_name}' waits for an event on message '{source}', which version "
                f"{j_old.version} does not have: contacts moved there were never sent it (choose another step)"]
    if source is not None:
        return [f"{where}: '{t.display_name}' waits for an event on message '{source}', sent on version "
                f"{j_old.version}: its opens and clicks come to the run of version {j_old.version}, so contacts "
                f"moved there would never be seen to do it (use --finish {step}, or choose another step)"]
    again = sent_again(j_old, j_new, step, target)
    if again:
        names = ", ".join(f"'{j_new.steps[m].display_name}'" for m in again[:3])
        return [f"{where}: contacts there may have been sent {names} on version {j_old.version}, which version "
                f"{to_version} sends again from '{t.display_name}': a message is never sent twice (choose a later "
                "step)"]
    return []


def can_move(j_old: Journey, j_new: Journey, step: str, target: str) -> bool:
    """Whether contacts at `step` of N may move to `target` of N+1 (what the dialog offers)."""
    return not _target_problems(j_old, j_new, step, target, j_new.version)


def check_ids(values: Sequence[str], what: str) -> list[str]:
    """Step ids as given (bounded, no control characters): the problems, one line each."""
    return [f"{what}: {v[:40]!r}{'...' if len(v) > 40 else ''} is not a step id (1 to {MAX_ID} characters, "
            "no control characters)" for v in values if not _ID.fullmatch(v)]


def resolve(choice: InFlight, j_old: Journey, j_new: Journey) -> Plan:
    """One decision per step of N (`j_old`, version `choice.from_version`) for N+1 (`j_new`); InFlightError with
    every problem, one line each, when the choice cannot be carried out."""
    to_version = j_new.version
    problems: list[str] = []
    if choice.default not in DEFAULTS:
        problems.append(f"--in-flight: {choice.default!r} is not one of {', '.join(DEFAULTS)}")
    if choice.from_version != j_old.version:
        problems.append(f"the plan is for contacts on version {choice.from_version}, not {j_old.version}")
    if not 1 <= choice.from_version < to_version:
        problems.append(f"contacts in flight come from an earlier version than {to_version}, not "
                        f"{choice.from_version}")
    if len(j_old.steps) > MAX_STEPS:
        problems.append(f"version {j_old.version} has {len(j_old.steps)} steps; a plan decides for at most "
                        f"{MAX_STEPS}")
    problems += check_ids(list(choice.moves) + list(choice.moves.values()), "--move")
    problems += check_ids(sorted(choice.leave), "--leave")
    problems += check_ids(sorted(choice.finish), "--finish")
    for step in [*choice.moves, *sorted(choice.leave), *sorted(choice.finish)]:
        if _ID.fullmatch(step) and step not in j_old.steps:
            problems.append(f"version {j_old.version} has no step '{step}' (its steps: "
                            f"{', '.join(sorted(j_old.steps)[:12])})")
    for step in sorted(set(choice.moves) & choice.leave):
        problems.append(f"step '{step}' is both moved and left: choose one")
    for step in sorted((set(choice.moves) | choice.leave) & choice.finish):
        problems.append(f"step '{step}' is both finished on version {choice.from_version} and "
                        f"{'moved' if step in choice.moves else 'left'}: choose one")
    for step, target in choice.moves.items():
        if step in j_old.steps and _ID.fullmatch(target):
            problems += _target_problems(j_old, j_new, step, target, to_version)
    decisions: dict[str, Decision] = {}
    for sid, old_step in j_old.steps.items():
        if sid in choice.leave:
            decisions[sid] = Decision(sid, LEAVE, None, CHOSEN)
        elif sid in choice.finish:
            decisions[sid] = Decision(sid, FINISH, None, CHOSEN if choice.default == MOVE else DEFAULT)
        elif sid in choice.moves:
            decisions[sid] = Decision(sid, MOVE, choice.moves[sid], CHOSEN)
        elif choice.default == FINISH:
            decisions[sid] = Decision(sid, FINISH, None, DEFAULT)
        elif _event_step(old_step) is not None:  # the events it waits for come to N's run: it finishes there
            decisions[sid] = Decision(sid, FINISH, None, EVENTS)
        elif sid in j_new.steps and not _target_problems(j_old, j_new, sid, sid, to_version):
            decisions[sid] = Decision(sid, MOVE, sid, KEPT)
        elif waits_at(old_step):
            why = ("which version {v} removes" if sid not in j_new.steps
                   else "whose step of the same id in version {v} cannot take them")
            problems.append(f"contacts waiting at '{old_step.display_name}' ({sid}), {why.format(v=to_version)}, "
                            f"need a choice: --move {sid}=STEP, --leave {sid} or --finish {sid}")
        else:  # contacts are there only for a moment: they finish that moment's move on N
            decisions[sid] = Decision(sid, FINISH, None, FLEETING)
    if problems:
        raise InFlightError(f"what happens to contacts in flight on version {choice.from_version} cannot be "
                            f"carried out: {len(problems)} problem{'s' if len(problems) != 1 else ''}", problems)
    return Plan(choice.from_version, to_version, choice.default, decisions)


# --- the manifest's form ------------------------------------------------------------------------------------

def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise InFlightError(f"{where}: 'in_flight' is not valid: {what}")


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def from_plain(doc: Any, where: str) -> Plan:
    """A plan as a manifest carries it (`Plan.to_plain`), its shape and bounds checked; InFlightError naming
    `where` on anything wrong."""
    _need(isinstance(doc, dict), where, "it must be an object")
    _need(doc.get("format") == FORMAT, where, f"its format must be {FORMAT!r}, not {doc.get('format')!r}")
    a, b = doc.get("from_version"), doc.get("to_version")
    _need(_whole(a) and _whole(b) and 1 <= a < b, where, "'from_version' and 'to_version' must be whole numbers, "
          "the first from 1 and below the second")
    _need(doc.get("default") in DEFAULTS, where, f"'default' must be one of {', '.join(DEFAULTS)}")
    steps = doc.get("steps")
    _need(isinstance(steps, dict) and len(steps) <= MAX_STEPS, where, f"'steps' must be an object of at most "
          f"{MAX_STEPS} steps")
    decisions: dict[str, Decision] = {}
    for sid, d in steps.items():
        _need(bool(_ID.fullmatch(sid)), where, f"step id {sid[:40]!r} is not a step id")
        _need(isinstance(d, dict) and d.get("action") in ACTIONS, where, f"step '{sid}' needs an action "
              f"({', '.join(ACTIONS)})")
        target = d.get("target")
        if d["action"] == MOVE:
            _need(isinstance(target, str) and bool(_ID.fullmatch(target)), where, f"step '{sid}' moves: it needs "
                  "a target step")
        else:
            _need(target is None, where, f"step '{sid}' does not move: it has no target")
        why = d.get("why", DEFAULT)
        _need(why in (KEPT, CHOSEN, DEFAULT, FLEETING, EVENTS), where,
              f"step '{sid}': unknown reason {str(why)[:20]!r}")
        decisions[sid] = Decision(sid, d["action"], target, why)
    return Plan(a, b, doc["default"], decisions)


def check_against(plan: Plan, j_new: Journey, where: str) -> None:
    """A carried plan against the journey it came with (version N+1): its version, and every target one of its
    steps that contacts can be put on; InFlightError otherwise."""
    _need(plan.to_version == j_new.version, where, f"it is for version {plan.to_version}, the package holds "
          f"{j_new.version}")
    for d in plan.decisions.values():
        if d.action == MOVE:
            t = j_new.steps.get(d.target or "")
            _need(t is not None and t.type != "exit", where, f"step '{d.step}' moves to '{d.target}', which is not "
                  f"a step contacts can be put on in version {j_new.version}")


# --- the choice from the command line -------------------------------------------------------------------------

def choice_from_options(from_version: int, default: str | None, moves: Sequence[str],
                        leave: Sequence[str], finish: Sequence[str] = ()) -> InFlight:
    """`--in-flight finish|move`, `--move STEP=TARGET`, `--leave STEP`, `--finish STEP` (each repeatable) as a
    choice; InFlightError, one line per problem, for a malformed option."""
    problems: list[str] = []
    if len(moves) + len(leave) + len(finish) > MAX_STEPS:
        problems.append(f"at most {MAX_STEPS} --move, --leave and --finish options")
    parsed: dict[str, str] = {}
    for text in moves[:MAX_STEPS]:
        step, sep, target = text.partition("=")
        step, target = step.strip(), target.strip()
        if not sep or not step or not target:
            problems.append(f"--move {text[:60]!r}: write it as STEP=TARGET (a step of the published version = "
                            "a step of the new one)")
        elif step in parsed and parsed[step] != target:
            problems.append(f"--move: step '{step[:60]}' is given twice, to '{parsed[step][:60]}' and "
                            f"'{target[:60]}'")
        else:
            parsed[step] = target
    if default is not None and default not in DEFAULTS:
        problems.append(f"--in-flight: {default[:20]!r} is not one of {', '.join(DEFAULTS)}")
    if problems:
        raise InFlightError(f"contacts in flight: {len(problems)} problem{'s' if len(problems) != 1 else ''} in "
                            "the options", problems)
    return InFlight(from_version, default or MOVE, parsed, frozenset(s.strip() for s in leave[:MAX_STEPS]),
                    frozenset(s.strip() for s in finish[:MAX_STEPS]))


# --- the preview with live counts -----------------------------------------------------------------------------

def waiting_from_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """How many contacts wait at each step, from a run's counts (`journey-studio status --json`, or /status):
    its `steps` rows' `waiting`; steps with nobody are left out; malformed rows are skipped."""
    out: dict[str, int] = {}
    rows = counts.get("steps")
    for row in (rows if isinstance(rows, list) else [])[:MAX_STEPS]:
        if not isinstance(row, Mapping):
            continue
        sid, n = row.get("step"), row.get("waiting")
        if isinstance(sid, str) and _ID.fullmatch(sid) and isinstance(n, int) and not isinstance(n, bool) \
                and 0 < n <= MAX_COUNT:
            out[sid] = n
    return out


@dataclass(frozen=True)
class PreviewLine:
    """What happens to the contacts at one step of N, in words, with their number."""

    step: str
    contacts: int
    decision: Decision
    removed: bool
    text: str


def _contacts(n: int) -> str:
    return f"{n:,} contact{'s' if n != 1 else ''} wait{'s' if n == 1 else ''}"


def preview(plan: Plan, j_old: Journey, j_new: Journey, waiting: Mapping[str, int]) -> list[PreviewLine]:
    """One line per step of N where contacts wait now (and per removed step where contacts can wait, with 0),
    in N's step order: "412 contacts wait at 'Wait 5 days', which version 4 removes: they will move to 'SMS
    reminder'"."""
    out: list[PreviewLine] = []
    for sid, step in j_old.steps.items():
        n = int(waiting.get(sid, 0))
        removed = sid not in j_new.steps
        if n <= 0 and not (removed and waits_at(step)):
            continue
        d = plan.decision(sid)
        head = f"{_contacts(n)} at '{step.display_name}'"
        if removed:
            head += f", which version {plan.to_version} removes"
        if d.action == LEAVE:
            tail = "they will leave the journey"
        elif d.action == FINISH:
            tail = f"they will finish on version {plan.from_version}"
            if d.why == EVENTS:
                tail += " (the event they wait for comes to its run)"
        elif d.target == sid:
            tail = f"they will move to the same step of version {plan.to_version}"
        else:
            tail = f"they will move to '{_name(j_new, d.target or '')}' of version {plan.to_version}"
        out.append(PreviewLine(sid, n, d, removed, f"{head}: {tail}"))
    return out


def totals(lines: Sequence[PreviewLine]) -> dict[str, int]:
    """Contacts that finish, move and leave, over a preview's lines."""
    out = {a: 0 for a in ACTIONS}
    for line in lines:
        out[line.decision.action] += line.contacts
    return out


def moved_population(plan: Plan, waiting: Mapping[str, int]) -> dict[str, int]:
    """Where the contacts in flight start on N+1: step of N+1 -> contacts moved there (for a forecast of N+1
    that starts from N's population in flight)."""
    out: dict[str, int] = {}
    for sid, n in waiting.items():
        d = plan.decision(sid)
        if d.action == MOVE and d.target and n > 0:
            out[d.target] = out.get(d.target, 0) + int(n)
    return out


__all__ = ["ACTIONS", "CHOSEN", "DEFAULT", "DEFAULTS", "EVENTS", "FINISH", "FLEETING", "FORMAT", "KEPT", "LEAVE",
           "MAX_STEPS", "MOVE", "RUNNER_NOTE", "Decision", "InFlight", "InFlightError", "Plan", "PreviewLine",
           "can_move", "check_against", "choice_from_options", "from_plain", "moved_population", "preview", "resolve",
           "sent_again", "totals", "waits_at", "waits_for_message", "waiting_from_counts"]
