"""What changed between two released versions of a journey: steps added, removed and changed, settings, content
and segments changed. Read from the journey documents (app.codec.plain.journey_to_doc), so the layout, the
version number and the file format are not changes; what a step is named, sends, waits for or leads to is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from app.codec.plain import release_doc
from app.model.values import shown

MAX_RECORDED = 100   # names per list a manifest records
MAX_FIELDS = 10      # fields per changed step a manifest records
NOT_SETTINGS = frozenset({"format", "version", "steps", "content", "segments", "layout"})
_ABSENT = object()


def _value(v: Any) -> str:
    return "(none)" if v is _ABSENT else shown(v, 60)


@dataclass(frozen=True)
class VersionChanges:
    """Version `new` against version `old` of a journey."""

    old: int
    new: int
    steps_added: list[str] = field(default_factory=list)
    steps_removed: list[str] = field(default_factory=list)
    steps_changed: dict[str, list[str]] = field(default_factory=dict)   # step -> "field: old -> new"
    settings_changed: list[str] = field(default_factory=list)           # "schedule: old -> new"
    content_changed: list[str] = field(default_factory=list)            # "'Name' added / removed / changed"
    segments_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.steps_added or self.steps_removed or self.steps_changed or self.settings_changed
                    or self.content_changed or self.segments_changed)

    def headline(self) -> str:
        """'Changes from version 2: 1 step added, 1 step changed, settings changed'."""
        parts = []
        for n, what in ((len(self.steps_added), "added"), (len(self.steps_removed), "removed"),
                        (len(self.steps_changed), "changed")):
            if n:
                parts.append(f"{n} step{'s' if n != 1 else ''} {what}")
        if self.settings_changed:
            parts.append("settings changed")
        if self.content_changed:
            parts.append("content changed")
        if self.segments_changed:
            parts.append("segments changed")
        return f"Changes from version {self.old}: " + (", ".join(parts) if parts else "none")

    def lines(self) -> list[str]:
        """Every change, one line each (what `package` prints and the Go live dialog lists)."""
        out = [f"step '{s}' added" for s in self.steps_added]
        out += [f"step '{s}' removed" for s in self.steps_removed]
        out += [f"step '{s}' changed: {what}" for s, fields in self.steps_changed.items() for what in fields]
        out += [f"setting {what}" for what in self.settings_changed]
        out += [f"content {what}" for what in self.content_changed]
        out += [f"segment {what}" for what in self.segments_changed]
        return out

    def to_plain(self) -> dict[str, Any]:
        """The form a package's manifest records ("changes"), bounded: at most MAX_RECORDED names per list and
        MAX_FIELDS fields per changed step (the manifest must stay small), with the true counts."""
        def cut(items: list[str]) -> list[str]:
            return items[:MAX_RECORDED]
        steps = {s: fields[:MAX_FIELDS] for s, fields in list(self.steps_changed.items())[:MAX_RECORDED]}
        lists = (self.steps_added, self.steps_removed, self.settings_changed, self.content_changed,
                 self.segments_changed)
        return {"from_version": self.old, "steps_added": cut(self.steps_added),
                "steps_removed": cut(self.steps_removed), "steps_changed": steps,
                "settings_changed": cut(self.settings_changed),
                "content_changed": cut(self.content_changed), "segments_changed": cut(self.segments_changed),
                "counts": {"steps_added": len(self.steps_added), "steps_removed": len(self.steps_removed),
                           "steps_changed": len(self.steps_changed)},
                "truncated": any(len(x) > MAX_RECORDED for x in lists) or len(self.steps_changed) > MAX_RECORDED
                or any(len(f) > MAX_FIELDS for f in self.steps_changed.values())}


def _fields(old: Mapping[str, Any], new: Mapping[str, Any], exclude: frozenset[str] = frozenset()) -> list[str]:
    out = []
    for k in list(old) + [k for k in new if k not in old]:
        if k in exclude:
            continue
        a, b = old.get(k, _ABSENT), new.get(k, _ABSENT)
        if a != b:
            out.append(f"{k}: {_value(a)} -> {_value(b)}")
    return out


def _named(old: Any, new: Any) -> list[str]:
    a = old if isinstance(old, Mapping) else {}
    b = new if isinstance(new, Mapping) else {}
    out = [f"'{n}' added" for n in b if n not in a]
    out += [f"'{n}' removed" for n in a if n not in b]
    out += [f"'{n}' changed" for n in a if n in b and a[n] != b[n]]
    return out


def _steps(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    steps = doc.get("steps")
    return steps if isinstance(steps, Mapping) else {}


def diff_versions(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], old: int, new: int) -> VersionChanges:
    """What changed from the journey document of version `old` to that of version `new`."""
    a_steps = _steps(old_doc)
    b_steps = _steps(new_doc)
    changed: dict[str, list[str]] = {}
    for sid in a_steps:
        if sid in b_steps and a_steps[sid] != b_steps[sid]:
            sa, sb = a_steps[sid], b_steps[sid]
            changed[sid] = _fields(sa, sb) if isinstance(sa, Mapping) and isinstance(sb, Mapping) else ["(all)"]
    return VersionChanges(
        old, new,
        steps_added=[s for s in b_steps if s not in a_steps],
        steps_removed=[s for s in a_steps if s not in b_steps],
        steps_changed=changed,
        settings_changed=_fields(old_doc, new_doc, NOT_SETTINGS),
        content_changed=_named(old_doc.get("content"), new_doc.get("content")),
        segments_changed=_named(old_doc.get("segments"), new_doc.get("segments")))


__all__ = ["VersionChanges", "diff_versions", "release_doc"]
