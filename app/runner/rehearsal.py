"""A rehearsal script: what each contact does, for `journey-studio run --rehearse SCRIPT.json`.

A rehearsal runs the live runner on logical time: every move happens at the simulated moment the interpreter
gives it (a runner that is late in real time does not shift it), and contacts do what the script says instead
of what real people do. The same script drives the simulator's reference interpreter in the parity test
(tests/test_runner_parity.py), so the two can be compared contact by contact, to the second.

The file is JSON: {"format": "rehearsal-script/1", "contacts": {"12": [ITEM, ...], ...}} where an ITEM is

- {"after": "hello", "delay": 3600, "event": "opened"}: `delay` seconds after message step `hello` was sent to
  the contact (every time it is sent), the event happens: a message event of that message (opened, clicked,
  bounced, hard_bounced, unsubscribed; "clicked" may name a "link") or a contact event (purchase...);
- {"at": 86400, "event": "purchase"}: a contact event `at` seconds after the journey's start.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from app.runner.runnable import Runnable, RunnerError
from app.semantics.plan import STEP_EVENTS

FORMAT = "rehearsal-script/1"
MAX_BYTES = 16 << 20
MAX_ITEMS = 1000  # per contact
MAX_SECONDS = 10 * 366 * 86_400

Script = dict[int, list[dict[str, Any]]]


def read_script(path: str | Path, r: Runnable) -> Script:
    """Read and check a rehearsal script against journey `r`; RunnerError saying what is wrong and where."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise RunnerError(f"{p}: a rehearsal script is at most {MAX_BYTES >> 20} MB")
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise RunnerError(f"{p}: cannot read the rehearsal script ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RunnerError(f"{p}: the rehearsal script is not JSON ({e})") from None
    return parse_script(doc, r, where=str(p))


def parse_script(doc: Any, r: Runnable, *, where: str = "rehearsal script") -> Script:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RunnerError(f"{where}: expected {{\"format\": \"{FORMAT}\", \"contacts\": {{...}}}}")
    contacts = doc.get("contacts")
    if not isinstance(contacts, dict):
        raise RunnerError(f"{where}: 'contacts' must map contact ids to lists of events")
    steps = {s.id for s in r.plan.steps}
    out: Script = {}
    for key, items in contacts.items():
        try:
            contact = int(key)
        except ValueError:
            raise RunnerError(f"{where}: contact id {key!r} is not a whole number") from None
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise RunnerError(f"{where}: contact {key}: a list of at most {MAX_ITEMS} events")
        out[contact] = [_item(item, steps, f"{where}: contact {key}, event {i}") for i, item in enumerate(items)]
    return out


def _seconds(v: Any, what: str, at: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= MAX_SECONDS:
        raise RunnerError(f"{at}: '{what}' must be a number of seconds from 0 to {MAX_SECONDS}")
    return int(v)


def _text(v: Any, what: str, at: str) -> str:
    if not isinstance(v, str) or not 0 < len(v) <= 200 or "\x00" in v:
        raise RunnerError(f"{at}: '{what}' must be a name (1 to 200 characters)")
    return v


def _item(item: Any, steps: set[str], at: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RunnerError(f"{at}: an event is an object with 'event' and 'after' + 'delay', or 'at'")
    unknown = set(item) - {"event", "after", "delay", "at", "link"}
    if unknown:
        raise RunnerError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
    event = _text(item.get("event"), "event", at)
    if "after" in item:
        after = _text(item["after"], "after", at)
        if after not in steps:
            raise RunnerError(f"{at}: the journey has no step '{after}'")
        out: dict[str, Any] = {"event": event, "after": after, "delay": _seconds(item.get("delay", 0), "delay", at)}
        if item.get("link") is not None:
            if event not in ("clicked", "link_clicked"):
                raise RunnerError(f"{at}: a link goes with a click")
            out["link"] = _text(item["link"], "link", at)
        return out
    if "at" not in item:
        raise RunnerError(f"{at}: give 'after' (a message step) and 'delay', or 'at'")
    if event in STEP_EVENTS:
        raise RunnerError(f"{at}: '{event}' happens to a message: give 'after' (its step) and 'delay'")
    return {"event": event, "at": _seconds(item["at"], "at", at)}


__all__ = ["FORMAT", "Script", "parse_script", "read_script"]
