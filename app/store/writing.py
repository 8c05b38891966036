"""Write-through: the rows touched by one batch of model changes, written incrementally.

A batch names what changed (a step, a link, a journey's settings, content by name...); the writer upserts the
*current* state of each touched thing, or deletes its row when the thing is gone. That makes the result
independent of how changes were combined inside the batch, and makes a failed batch safe to write again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.codec.plain import content_to_plain, props_to_plain, segment_to_plain, settings_to_plain
from app.model.journey import Change, Journey, Step
from app.model.project import Project
from app.store import schema as t
from app.store.loading import encode_settings

STEP_CHANGES = frozenset({"step-added", "step-removed", "step-changed", "link-changed"})


def journey_values(j: Journey, now: datetime) -> dict[str, Any]:
    """The journey row's columns, but for created_at."""
    return {"name": j.name, "entry": j.entry, "version": j.version, "settings": settings_to_plain(j),
            "updated_at": now}


def step_values(journey_id: str, step: Step) -> dict[str, Any]:
    """The step row's columns, but for ord."""
    pos = step.position
    return {"journey_id": journey_id, "step_id": step.id, "type": step.type, "name": step.name,
            "props": props_to_plain(step), "outputs": dict(step.outputs),
            "x": pos.x if pos else None, "y": pos.y if pos else None}


def _upsert_step(conn: Connection, journey_id: str, step: Step) -> None:
    values = step_values(journey_id, step)
    next_ord = (select(func.coalesce(func.max(t.steps.c.ord), -1) + 1)
                .where(t.steps.c.journey_id == journey_id).scalar_subquery())
    stmt = sqlite_insert(t.steps).values(**values, ord=next_ord)
    # An existing step keeps its place: only inserts at an index rewrite the order (see _renumber).
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.steps.c.journey_id, t.steps.c.step_id],
        set_={k: stmt.excluded[k] for k in values if k not in ("journey_id", "step_id")})
    conn.execute(stmt)


def _renumber(conn: Connection, journey: Journey) -> None:
    stmt = (update(t.steps).where(t.steps.c.journey_id == journey.id, t.steps.c.step_id == bindparam("sid"))
            .values(ord=bindparam("new_ord")))
    conn.execute(stmt, [{"sid": sid, "new_ord": i} for i, sid in enumerate(journey.steps)])


def _insert_steps(conn: Connection, journey: Journey) -> None:
    rows = [dict(step_values(journey.id, s), ord=i) for i, s in enumerate(journey.steps.values())]
    if rows:
        conn.execute(insert(t.steps), rows)


def _write_journey(conn: Connection, journey: Journey, now: datetime) -> None:
    """Write a whole journey (added to the project): its row, all its steps, a 'created' milestone if new."""
    existed = conn.execute(select(exists().where(t.journeys.c.id == journey.id))).scalar()
    if existed:
        conn.execute(update(t.journeys).where(t.journeys.c.id == journey.id).values(journey_values(journey, now)))
        conn.execute(delete(t.steps).where(t.steps.c.journey_id == journey.id))
    else:
        conn.execute(insert(t.journeys).values(id=journey.id, created_at=now, **journey_values(journey, now)))
        has_history = conn.execute(select(exists().where(t.milestones.c.journey_id == journey.id))).scalar()
        if not has_history:  # a journey brought back by undo keeps its history and was not created again
            conn.execute(insert(t.milestones).values(journey_id=journey.id, kind="created", at=now, detail=""))
    _insert_steps(conn, journey)


def _upsert_named(conn: Connection, table: Any, names: Iterable[str], current: dict[str, Any]) -> None:
    for name in names:
        item = current.get(name)
        if item is None:
            conn.execute(delete(table).where(table.c.name == name))
            continue
        if table is t.content:
            values = {"kind": item.kind, "status": item.status, "data": content_to_plain(item)}
        else:
            values = {"entity": item.entity, "kind": item.kind, "data": segment_to_plain(item)}
        stmt = sqlite_insert(table).values(name=name, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.name], set_=values))


def write_settings(conn: Connection, project: Project) -> None:
    """The project row (name and settings)."""
    conn.execute(update(t.project).where(t.project.c.id == 1)
                 .values(name=project.name, settings=encode_settings(project.settings)))


def write_changes(conn: Connection, project: Project, changes: Iterable[Change], now: datetime) -> None:
    """Write everything one batch of changes touched (call inside a transaction)."""
    whole: dict[str, None] = {}            # journeys added: written in full
    dropped: dict[str, None] = {}          # journeys removed (maybe re-added within the batch)
    meta: dict[str, None] = {}             # journeys whose row (settings, entry, name) changed
    touched_steps: dict[str, dict[str, None]] = {}
    removed_steps: set[tuple[str, str]] = set()
    reorder: set[str] = set()
    content_names: dict[str, None] = {}
    segment_names: dict[str, None] = {}
    settings = False
    for c in changes:
        k, jid = c.kind, c.journey
        if k == "journey-added" and jid is not None:
            whole[jid] = None
        elif k == "journey-removed" and jid is not None:
            dropped[jid] = None
        elif k in ("journey-changed", "entry-changed") and jid is not None:
            meta[jid] = None
        elif k in STEP_CHANGES and jid is not None and c.step is not None:
            touched_steps.setdefault(jid, {})[c.step] = None
            if k == "step-removed":
                removed_steps.add((jid, c.step))
            elif k == "step-added" and (c.detail is not None or (jid, c.step) in removed_steps):
                reorder.add(jid)  # inserted at an index, or removed and put back: the order changed
        elif k == "content-changed" and c.name is not None:
            content_names[c.name] = None
        elif k == "segment-changed" and c.name is not None:
            segment_names[c.name] = None
        elif k == "settings-changed":
            settings = True

    live = {j.id: j for j in project.journeys}
    for jid in dropped:
        if jid not in live:
            conn.execute(delete(t.journeys).where(t.journeys.c.id == jid))
    rewritten = [jid for jid in whole if jid in live]
    renamed = [jid for jid in meta if jid in live and jid not in whole]
    if len(rewritten) + len(renamed) > 1:
        # Names are unique: park the rows under placeholder names first so that swaps cannot collide.
        conn.execute(update(t.journeys).where(t.journeys.c.id.in_(rewritten + renamed))
                     .values(name=literal("\x00") + t.journeys.c.id))
    for jid in renamed:
        conn.execute(update(t.journeys).where(t.journeys.c.id == jid).values(journey_values(live[jid], now)))
    for jid in rewritten:
        _write_journey(conn, live[jid], now)

    for jid, sids in touched_steps.items():
        journey = live.get(jid)
        if journey is None or jid in whole:
            continue
        if jid not in meta:
            conn.execute(update(t.journeys).where(t.journeys.c.id == jid).values(updated_at=now))
        order = {sid: i for i, sid in enumerate(journey.steps)} if len(sids) > 1 else {}
        gone = [sid for sid in sids if sid not in journey.steps]
        if gone:
            conn.execute(delete(t.steps).where(t.steps.c.journey_id == jid, t.steps.c.step_id.in_(gone)))
        for sid in sorted((s for s in sids if s in journey.steps), key=lambda s: order.get(s, 0)):
            _upsert_step(conn, jid, journey.steps[sid])
        if jid in reorder:
            _renumber(conn, journey)

    _upsert_named(conn, t.content, content_names, project.content)
    _upsert_named(conn, t.segments, segment_names, project.segments)
    if settings:
        write_settings(conn, project)


def write_project(conn: Connection, project: Project, now: datetime) -> None:
    """Write a whole in-memory project into a freshly created file (call inside a transaction)."""
    write_settings(conn, project)
    for journey in project.journeys:
        _write_journey(conn, journey, now)
    _upsert_named(conn, t.content, list(project.content), project.content)
    _upsert_named(conn, t.segments, list(project.segments), project.segments)
