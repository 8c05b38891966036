"""A journey ready to run live: its compiled plan, content and segments, and a digest that names it exactly.

Workflows never carry the journey in their input (a million copies in the history): a worker loads the package
once and registers it here, and each workflow finds its plan by key (journey id and version) and checks the
digest, so a worker holding another build of the same version refuses to run it rather than run it wrongly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.codec.plain import journey_to_doc
from app.errors import JourneyStudioError
from app.model.content import Content
from app.model.journey import Journey
from app.model.registry import REGISTRY
from app.model.segment import Segment
from app.semantics.keys import NEVER
from app.semantics.plan import Kind, Plan, PlanError, compile_plan

CHANNELS = ("email", "sms", "push")  # the channels the runner can send on


class RunnerError(JourneyStudioError):
    """A journey, package or setting the runner cannot use, with a one-line message."""


@dataclass(frozen=True)
class Runnable:
    """A journey compiled for the live runner."""

    journey: Journey
    plan: Plan
    content: Mapping[str, Content]
    segments: Mapping[str, Segment]
    digest: str
    source: str = ""
    caps: tuple[Any, ...] = ()  # the project's frequency caps across journeys (app.model.project.ChannelCap)

    @property
    def cap_limits(self) -> dict[str, tuple[int, int]]:
        """Channel -> (messages, per seconds) of the caps this journey is held by (none when it is exempt)."""
        if self.journey.cap_exempt:
            return {}
        return {c.channel: (int(c.messages), int(c.per.total_seconds())) for c in self.caps}

    @property
    def key(self) -> str:
        """The journey id and version, e.g. 'j-7f3a:v2': the prefix of every workflow id of the run."""
        return journey_key(self.plan.journey_id, self.plan.version)

    @property
    def task_queue(self) -> str:
        """The Temporal task queue of this journey version's workflows and activities."""
        return f"journey-studio:{self.key}"

    def step(self, step_id: str) -> int:
        """The plan index of a step id (KeyError when the journey has no such step)."""
        for s in self.plan.steps:
            if s.id == step_id:
                return s.index
        raise KeyError(step_id)


def journey_key(journey_id: str, version: int) -> str:
    """The key of a journey version, as used in workflow ids and search attributes."""
    return f"{journey_id}:v{version}"


def digest_of(journey: Journey, content: Mapping[str, Content], segments: Mapping[str, Segment]) -> str:
    """SHA-256 of the journey's canonical document (with its content and segments)."""
    doc = journey_to_doc(journey, dict(content), dict(segments))
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def runnable(journey: Journey, content: Mapping[str, Content], segments: Mapping[str, Segment], *,
             source: str = "", digest: str | None = None, caps: tuple[Any, ...] = ()) -> Runnable:
    """Compile a journey for the runner; RunnerError when it uses something the runner cannot do yet."""
    where = source or f"journey '{journey.name}'"
    try:
        # live: no simulated horizon, only the schedule's end
        plan = compile_plan(journey, horizon=NEVER - 1, content=content)
    except PlanError as e:
        raise RunnerError(f"{where}: {e}") from None
    for s in plan.steps:
        tile = REGISTRY.get(journey.step(s.id).type)
        if s.kind == Kind.ACTION and (tile is None or tile.live is None):
            raise RunnerError(f"{where}: step '{s.id}' is a {tile.label if tile else 'tile'} the runner cannot carry "
                              "out")
        if s.kind == Kind.MESSAGE:
            if s.channel not in CHANNELS:
                raise RunnerError(f"{where}: step '{s.id}' sends {s.channel} messages; the runner sends "
                                  f"{', '.join(CHANNELS)} only")
            name = journey.step(s.id).props.get("content")
            if name not in content:
                raise RunnerError(f"{where}: step '{s.id}' sends '{name}', which is not in the package")
    for name in (*plan.audience.segments, *plan.audience.exclude,
                 *([plan.audience.suppress] if plan.audience.suppress else []), *plan.segments_used()):
        if name not in segments:
            raise RunnerError(f"{where}: the journey uses segment '{name}', which is not in the package")
    return Runnable(journey, plan, dict(content), dict(segments),
                    digest or digest_of(journey, content, segments), source, tuple(caps))


def from_package(path: str | Path, *, public_key: Any = None, require_signature: bool = False,
                 trust: Any = None) -> Runnable:
    """Read a .jpkg (checked by app.package, against `trust`: app.package.trust.TrustPolicy) and compile its
    journey for the runner."""
    from app.package import PackageError, read_package
    try:
        pkg = read_package(path, public_key=public_key, require_signature=require_signature, trust=trust)
    except PackageError as e:
        raise RunnerError(str(e)) from None
    from app.package.manifest import manifest_caps
    return runnable(pkg.journey, pkg.content, pkg.segments, source=str(path),
                    digest=getattr(pkg, "sha256", None) or None, caps=manifest_caps(pkg.manifest))


def step_types(r: Runnable) -> dict[str, str]:
    """Step id -> tile label, for tables."""
    return {s.id: REGISTRY[s.type].label if s.type in REGISTRY else s.type for s in r.plan.steps}


# --- the process-wide registry workflows read their journeys from ----------------------------------------

_LOADED: dict[str, Runnable] = {}


def register(r: Runnable) -> None:
    """Make a journey available to this process's workflows."""
    _LOADED[r.key] = r


def lookup(key: str, digest: str) -> Runnable:
    """The registered journey `key`; RunnerError when it is not here or is another build."""
    r = _LOADED.get(key)
    if r is None:
        raise RunnerError(f"this worker does not hold journey {key}")
    if r.digest != digest:
        raise RunnerError(f"this worker holds another build of journey {key} (digest {r.digest[:12]}, the run "
                          f"was started with {digest[:12]})")
    return r
