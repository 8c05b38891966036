"""Large synthetic journeys for benchmarks: long chains with branches, splits and waits."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.model.content import Content
from app.model.journey import Audience, Journey, Position, Schedule, Step
from app.model.registry import END
from app.model.segment import Segment

if TYPE_CHECKING:
    from app.store import ProjectFile


def big_journey(n_steps: int = 1000, *, journey_id: str = "big") -> tuple[Journey, list[Content], list[Segment]]:
    """A valid journey of `n_steps` steps: email / if-then / wait blocks on a spine, side branches exiting."""
    j = Journey(journey_id, f"Big journey ({n_steps} steps)", audience=Audience(("Everyone",)),
                schedule=Schedule(datetime(2027, 1, 1, 9), datetime(2028, 1, 1), "Europe/Paris"))
    contents = [Content("Newsletter", "email", "ready", subject="Hi {{first_name}}", links=("more",)),
                Content("Reminder text", "sms", "ready", text="Hello")]
    steps: list[Step] = []
    last_email = None
    for i in range(n_steps):
        sid = f"s{i:04d}"
        kind = i % 5
        pos = Position(float(i // 5 * 220), float((i % 5) * 120))
        if kind == 0 or last_email is None:
            step = Step(sid, "email", props={"content": "Newsletter", "send_to": "email"}, position=pos)
            last_email = sid
        elif kind == 1:
            step = Step(sid, "if-then", props={"wait_for": {"event": "opened", "step": last_email},
                                               "within": timedelta(days=2)}, position=pos)
        elif kind == 2:
            step = Step(sid, "sms", props={"content": "Reminder text", "send_to": "mobile_phone"}, position=pos)
        elif kind == 3:
            step = Step(sid, "wait", props={"duration": timedelta(days=1)}, position=pos)
        else:
            step = Step(sid, "random-split", props={"split": (50, 50), "holdout": 0}, position=pos)
        steps.append(step)
    for i, step in enumerate(steps):
        nxt = steps[i + 1].id if i + 1 < len(steps) else None
        ports = [p.id for p in step.ports()]
        for k, port in enumerate(ports):
            if nxt is None:
                step.outputs[port] = END
            elif k == 0:
                step.outputs[port] = nxt
            elif step.type == "if-then":  # the "no" side skips the text message and rejoins at the wait
                step.outputs[port] = steps[i + 2].id if i + 2 < len(steps) else END
            else:  # a split's second path rejoins at once: skipping the next email would strand its if/then
                step.outputs[port] = nxt
    for s in steps:
        j.add_step(s)
    return j, contents, [Segment("Everyone")]


def big_project(path: Path, n_steps: int = 1000) -> tuple["ProjectFile", Journey]:
    """A new project file at `path` holding `big_journey(n_steps)` with its content and segments (left open)."""
    from app.store import ProjectFile
    journey, contents, segments = big_journey(n_steps)
    pf = ProjectFile.create(path, name="Bench")
    with pf.project.batch():
        for c in contents:
            pf.project.put_content(c)
        for s in segments:
            pf.project.put_segment(s)
        pf.project.add_journey(journey)
    return pf, journey
