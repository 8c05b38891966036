"""What-if sweeps: a grid over a journey's step properties and behaviour figures, each point simulated as a
paired run with the same seeds (pure: no Qt, no click; `journey-studio sweep` is its command line).

A sweep varies properties written `STEP.PROPERTY` (a step's id or name, a property of its tile:
`pause.duration`, `opened.within`, `split.split` with shares as `70/30`) or `behaviour.PATH` (a figure of the
behaviour model by its dotted name in `BehaviourModel.to_plain()`, `channels.` implied: `behaviour.email.open`,
`behaviour.event_rates.purchase`, `behaviour.messages.reminder.click`) or `journey.quiet_hours` (the
send hours: `21:00-08:00`, `none`). Every point is the journey with those
values set, checked as the designer checks it (a value the tile refuses is one `SweepError` line naming
`STEP.PROPERTY` and the value), and simulated exactly as `execute` (simulator/request.py) simulates it: the same
populations (from the seed for replica 0, derived seeds for the others) and the same replica seeds, so that
every point and the baseline (the journey as it is) are paired replica by replica.

Each point gives the journey's incremental effect on the outcome (the goal by default), pooled as `simulate`
pools it, and its difference against the baseline: the mean of the K paired replica differences with Student's
t interval over them, and how sure, the share of replicas in which the point beats the baseline. Points run in
worker processes (`workers`); every point is a pure function of its inputs, so the results are the same as a
serial run's, bit for bit.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from app.model.content import Content
from app.model.journey import Journey
from app.model.registry import REGISTRY, PropSpec
from app.model.segment import Segment
from app.model.values import format_duration
from app.validation.findings import Finding
from simulator.behaviour import BehaviourModel
from simulator.replicas import pooled_effect, t975

if TYPE_CHECKING:
    from simulator.engine import CancelToken

MAX_POINTS = 1000
LOWER_IS_BETTER = frozenset({"unsubscribed"})  # outcomes a journey should cause less of
MAX_VARIED = 6
MAX_VALUES = 100  # values of one --vary
MAX_VALUE_CHARS = 80
MAX_TARGET_CHARS = 200
BEHAVIOUR = "behaviour"
PROBABILITIES = ("delivery", "open", "click", "unsubscribe", "conversion", "hard_bounce")
METHOD = ("effect: the journey's incremental share of the outcome among the contacts who entered (with minus "
          "without the journey, paired twins), 95% normal interval pooled over the replicas' contacts, as "
          "simulate gives it; vs_baseline: the mean over replicas of the point's incremental share minus the "
          "baseline's in the same replica (the same population and seeds), 95% Student t interval over the "
          "replicas (none with one replica); sure: the share of replicas in which the point's incremental share "
          "is better than the baseline's (higher; lower for unsubscribes)")


class SweepError(ValueError):
    """A sweep that cannot be made, as one line naming the --vary and the value."""


@dataclass(frozen=True)
class Varied:
    """One varied property: `STEP.PROPERTY` or `behaviour.PATH`, and the values it takes, as typed."""

    target: str
    values: tuple[str, ...]

    @property
    def is_behaviour(self) -> bool:
        return self.target.startswith(BEHAVIOUR + ".")


_TARGET = re.compile(r"^[^=\s][^=]*\.[^.=\s]+$")


def parse_vary(text: str) -> Varied:
    """`STEP.PROPERTY=v1,v2,...` as a `Varied`; SweepError with one line otherwise."""
    if len(text) > MAX_TARGET_CHARS + MAX_VALUES * (MAX_VALUE_CHARS + 1):
        raise SweepError(f"--vary {text[:40]}...: too long (at most {MAX_VALUES} values of "
                         f"{MAX_VALUE_CHARS} characters)")
    target, eq, rest = text.partition("=")
    target = target.strip()
    if not eq or not _TARGET.match(target) or len(target) > MAX_TARGET_CHARS:
        raise SweepError(f"--vary {text[:60]}: write STEP.PROPERTY=v1,v2,... (e.g. pause.duration=2d,5d,7d or "
                         "behaviour.email.open=0.2,0.3)")
    values = tuple(v.strip() for v in rest.split(","))
    if not rest.strip() or any(not v for v in values):
        raise SweepError(f"--vary {target}: give one or more values separated by commas, none empty")
    if len(values) > MAX_VALUES:
        raise SweepError(f"--vary {target}: {len(values)} values; at most {MAX_VALUES}")
    for v in values:
        if len(v) > MAX_VALUE_CHARS:
            raise SweepError(f"--vary {target}={v[:20]}...: a value has at most {MAX_VALUE_CHARS} characters")
    if len(set(values)) != len(values):
        raise SweepError(f"--vary {target}: a value is given twice")
    return Varied(target, values)


def parse_grid(texts: Sequence[str]) -> tuple[Varied, ...]:
    """Every --vary, checked together: at least one, each target once, at most MAX_POINTS points."""
    if not texts:
        raise SweepError("give at least one --vary STEP.PROPERTY=v1,v2,...")
    if len(texts) > MAX_VARIED:
        raise SweepError(f"{len(texts)} --vary options; a sweep varies at most {MAX_VARIED} properties")
    varied = tuple(parse_vary(t) for t in texts)
    seen: set[str] = set()
    for v in varied:
        if v.target in seen:
            raise SweepError(f"--vary {v.target}: given twice; put all its values in one --vary")
        seen.add(v.target)
    count = math.prod(len(v.values) for v in varied)
    if count > MAX_POINTS:
        raise SweepError(f"the grid has {count:,} points; a sweep has at most {MAX_POINTS:,} (fewer values)")
    return varied


def grid_points(varied: Sequence[Varied]) -> list[dict[str, str]]:
    """Every combination of the values, the first --vary slowest."""
    return [dict(zip((v.target for v in varied), combo)) for combo in itertools.product(*(v.values for v in varied))]


# --- setting values ---------------------------------------------------------------------------------------

def find_step(journey: Journey, name: str, target: str) -> str:
    """The id of the step named `name` (its id, or its display name when one step has it)."""
    if name in journey.steps:
        return name
    named = [s.id for s in journey if s.display_name == name]
    if len(named) == 1:
        return named[0]
    known = ", ".join(s.id for s in journey)
    why = "two or more steps have that name; use the step's id" if named else "no such step"
    raise SweepError(f"--vary {target}: {why} in '{journey.name}' (steps: {known})")


def _typed(spec: PropSpec, text: str) -> Any:
    """The value as a journey file would hold it, for the property's converter."""
    if spec.kind in ("percent", "int"):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{spec.name} is a number") from None
        return int(number) if spec.kind == "int" and number.is_integer() else number
    if spec.kind == "percent_list":
        try:
            return [float(x) for x in text.split("/")]
        except ValueError:
            raise ValueError("shares are percentages separated by '/', e.g. 70/30") from None
    if spec.kind == "bool":
        lowered = text.lower()
        return True if lowered == "true" else False if lowered == "false" else text
    if spec.kind in ("wait_for", "condition"):
        raise ValueError(f"{spec.name} is a structure; a sweep varies durations, numbers, shares and choices")
    return text


def set_step_value(journey: Journey, target: str, text: str) -> None:
    """Set `STEP.PROPERTY` to `text` on `journey` (a copy); SweepError naming both when the tile refuses it."""
    step_name, _, prop = target.rpartition(".")
    sid = find_step(journey, step_name, target)
    step = journey.step(sid)
    tile = REGISTRY.get(step.type)
    spec = tile.prop(prop) if tile is not None else None
    if tile is None or spec is None:
        props = ", ".join(p.name for p in tile.props) if tile is not None else "none"
        raise SweepError(f"--vary {target}: a {step.type} step has no property '{prop}' (properties: {props})")
    try:
        value = spec.from_plain(_typed(spec, text))
    except (ValueError, TypeError) as e:
        raise SweepError(f"--vary {target}={text}: {e}") from None
    journey.set_props(sid, {prop: value})


JOURNEY = "journey"
JOURNEY_SETTINGS = ("quiet_hours",)  # journey-level settings a sweep varies: journey.quiet_hours=21:00-08:00,none


def _is_journey_setting(journey: Journey, target: str) -> bool:
    return target.startswith(JOURNEY + ".") and JOURNEY not in journey.steps


def set_journey_value(journey: Journey, target: str, text: str) -> None:
    """Set a journey-level setting (`journey.quiet_hours`: 'HH:MM-HH:MM' local, or 'none') on `journey`."""
    from app.model.journey import QuietHours
    from app.model.values import parse_time
    name = target.partition(".")[2]
    if name not in JOURNEY_SETTINGS:
        raise SweepError(f"--vary {target}: a sweep varies the journey's {', '.join(JOURNEY_SETTINGS)} (and its "
                         "steps' properties as STEP.PROPERTY)")
    if text.lower() == "none":
        quiet = None
    else:
        start, dash, end = text.partition("-")
        try:
            if not dash:
                raise ValueError("write the quiet hours as START-END, e.g. 21:00-08:00, or none")
            quiet = QuietHours(parse_time(start), parse_time(end))
        except ValueError as e:
            raise SweepError(f"--vary {target}={text}: {e}") from None
    journey.update(schedule=replace(journey.schedule, quiet_hours=quiet))


def _behaviour_path(target: str, plain: Mapping[str, Any]) -> list[str]:
    path = target.split(".")[1:]
    if path and path[0] not in plain:
        path = ["channels", *path]
    return path


def set_behaviour_value(model: BehaviourModel, target: str, text: str) -> BehaviourModel:
    """The behaviour model with the figure `behaviour.PATH` set to `text`; SweepError naming both otherwise."""
    plain = model.to_plain()
    path = _behaviour_path(target, plain)
    try:
        number = float(text)
    except ValueError:
        raise SweepError(f"--vary {target}={text}: a behaviour figure is a number") from None
    if not math.isfinite(number) or number < 0 or (path[-1] in PROBABILITIES and number > 1):
        what = "a probability from 0 to 1" if path[-1] in PROBABILITIES else "a number from 0 up"
        raise SweepError(f"--vary {target}={text}: {what}")
    if path[0] == "messages":
        from dataclasses import fields

        from simulator.behaviour import ChannelBehaviour
        names = [f.name for f in fields(ChannelBehaviour)]
        if len(path) != 3 or path[2] not in names:
            raise SweepError(f"--vary {target}: a message's figure is behaviour.messages.STEP.FIGURE, the figure "
                             f"one of {', '.join(names)}")
    node: Any = plain
    for i, key in enumerate(path[:-1]):
        if path[0] == "messages" and i == 1 and key not in node:
            node[key] = {}
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            raise SweepError(f"--vary {target}: no such behaviour figure (names as in journey-studio behaviour, "
                             "e.g. behaviour.email.open, behaviour.event_rates.purchase)")
        node = node[key]
    known = path[0] == "messages" or path[-1] in node
    if not known or isinstance(node.get(path[-1]), (dict, list)):
        raise SweepError(f"--vary {target}: no such behaviour figure (names as in journey-studio behaviour, "
                         "e.g. behaviour.email.open, behaviour.event_rates.purchase)")
    node[path[-1]] = int(number) if isinstance(node.get(path[-1]), int) and number.is_integer() else number
    try:
        return BehaviourModel.from_plain(plain)
    except (ValueError, TypeError) as e:
        raise SweepError(f"--vary {target}={text}: {e}") from None


def current_value(journey: Journey, behaviour: BehaviourModel, target: str) -> str:
    """What `target` is now (the baseline's value), as text."""
    if target.startswith(BEHAVIOUR + "."):
        plain = behaviour.to_plain()
        path = _behaviour_path(target, plain)
        if path[0] == "messages" and path[1] not in plain["messages"] and path[1] in journey.steps:
            tile = REGISTRY.get(journey.step(path[1]).type)  # no override: the step's channel's figure
            if tile is not None and tile.channel is not None:
                path = ["channels", tile.channel, *path[2:]]
        node: Any = plain
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return "-" if node is None else f"{node:g}" if isinstance(node, float) else str(node)
    if _is_journey_setting(journey, target):
        quiet = journey.schedule.quiet_hours
        return "none" if quiet is None else f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"
    step_name, _, prop = target.rpartition(".")
    value = journey.step(find_step(journey, step_name, target)).props.get(prop)
    if value is None:
        return "-"
    if hasattr(value, "total_seconds"):
        return format_duration(value)
    if isinstance(value, (list, tuple)):
        return "/".join(f"{x:g}" for x in value)
    return str(value)


def apply_values(journey: Journey, behaviour: BehaviourModel,
                 values: Mapping[str, str]) -> tuple[Journey, BehaviourModel]:
    """The journey (a copy) and behaviour with `values` set (SweepError naming a value its property refuses)."""
    copy = journey.clone()
    model = behaviour
    for target, text in values.items():
        if target.startswith(BEHAVIOUR + "."):
            parts = target.split(".")
            if len(parts) > 2 and parts[1] == "messages":
                tile = REGISTRY.get(copy.steps[parts[2]].type) if parts[2] in copy.steps else None
                if tile is None or tile.channel is None:
                    sends = ", ".join(s.id for s in copy if (t := REGISTRY.get(s.type)) and t.channel) or "none"
                    raise SweepError(f"--vary {target}: '{parts[2]}' is not a message step of '{copy.name}' "
                                     f"(its message steps: {sends})")
            model = set_behaviour_value(model, target, text)
        elif _is_journey_setting(copy, target):
            set_journey_value(copy, target, text)
        else:
            set_step_value(copy, target, text)
    return copy, model


class _Checker:
    """The check for errors on each point: an error the journey as it is does not have refuses the sweep, naming
    the one value that causes it alone, else the point's combination (a holdout and shares that only together
    add up to more than 100%)."""

    def __init__(self, journey: Journey, behaviour: BehaviourModel,
                 check: Callable[[Journey], Sequence[Finding]]) -> None:
        self.journey, self.behaviour, self.check = journey, behaviour, check
        self.baseline = frozenset(_key(f) for f in check(journey) if f.is_error)
        self.alone: dict[tuple[str, str], str | None] = {}

    def new_error(self, journey: Journey) -> str | None:
        """'STEP: message' of the first error the baseline does not have; None when there is none."""
        for f in self.check(journey):
            if f.is_error and _key(f) not in self.baseline:
                return f"{f.step or 'journey'}: {f.message}"
        return None

    def __call__(self, journey: Journey, values: Mapping[str, str]) -> None:
        error = self.new_error(journey)
        if error is None:
            return
        for target, text in values.items():
            if target.startswith(BEHAVIOUR + "."):
                continue
            if (target, text) not in self.alone:
                self.alone[(target, text)] = self.new_error(apply_values(self.journey, self.behaviour,
                                                                         {target: text})[0])
            alone = self.alone[(target, text)]
            if alone is not None:
                raise SweepError(f"--vary {target}={text}: {alone}")
        said = ", ".join(f"{k}={v}" for k, v in values.items())
        raise SweepError(f"--vary {said} (together): {error}")


def _key(f: Finding) -> tuple[Any, ...]:
    return (f.code, f.step, f.field, f.message)


# --- running points ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PointTask:
    """Everything one point's run reads, as plain picklable data (for a worker process)."""

    journey_doc: dict[str, Any]
    journey_id: str
    behaviour: dict[str, Any]
    content: dict[str, Content]
    segments: dict[str, Segment]
    custom: dict[str, str]
    contacts: int
    seed: int
    replicas: int
    horizon_days: int | None
    shared_population: bool
    chunk_size: int


def run_point(task: PointTask, cancel: CancelToken | None = None) -> list[dict[str, np.ndarray]]:
    """One point: each replica's paired effect counts ('effect.n', 'effect.with', 'effect.without',
    'effect.differ'), simulated as `execute` simulates a synthetic population (see the module docstring);
    `cancel` stops it between chunks (engine.Cancelled)."""
    from app.codec.plain import journey_from_doc
    from app.errors import AudienceError
    from app.semantics.draws import derive_seed
    from simulator.engine import run
    from simulator.memory import keep_freed_memory
    from simulator.metrics import effect_counts
    from simulator.request import RunError, RunRequest, Snapshot, compile_for, synthetic_for
    from simulator.world import build_world

    journey = journey_from_doc(task.journey_doc, journey_id=task.journey_id)[0]
    behaviour = BehaviourModel.from_plain(task.behaviour)
    request = RunRequest(journey.id, contacts=task.contacts, seed=task.seed, replicas=task.replicas,
                         horizon_days=task.horizon_days, behaviour=behaviour, chunk_size=task.chunk_size,
                         shared_population=task.shared_population, allow_errors=True)
    source = Snapshot(journey, task.content, task.segments, task.custom)
    plan = compile_for(request, journey, task.content)
    samples: list[dict[str, np.ndarray]] = []
    shared = synthetic_for(request, source, plan, 0) if task.shared_population else None
    with keep_freed_memory():
        for r in range(task.replicas):
            pop = shared if shared is not None else synthetic_for(request, source, plan, r)
            try:
                world = build_world(plan, pop, behaviour, derive_seed(task.seed, r))
                trace = run(plan, pop, behaviour, derive_seed(task.seed, r), chunk_size=task.chunk_size,
                            world=world, cancel=cancel)
            except KeyError as e:  # as execute says them: a condition on an attribute the population lacks
                raise RunError(f"cannot simulate '{journey.name}': {e.args[0] if e.args else e}") from None
            except (ValueError, AudienceError) as e:  # e.g. a behaviour multiplier on an unknown loyalty tier
                raise RunError(f"cannot simulate '{journey.name}': {e}") from None
            counts = effect_counts(trace)
            counts_named = {f"effect.{k}": v for k, v in counts.items()}
            counts_named["events"] = np.array(trace.meta.get("effect_events", []), dtype=np.str_)
            samples.append(counts_named)
            del trace, world
    return samples


def _worker_start() -> None:
    """A worker runs its chunks in its own thread: the processes already take the cores (the figures do not
    depend on the threads), unless JOURNEY_STUDIO_SIM_THREADS says otherwise."""
    import os

    from simulator import engine
    if not os.environ.get("JOURNEY_STUDIO_SIM_THREADS"):
        engine.WORKERS = 1


# a worker's memory, measured on a two-step journey (90 MB and 0.5 KB a contact) with room for longer journeys
_WORKER_BYTES, _CONTACT_BYTES = 150 << 20, 1536


def _available_memory() -> int | None:
    """Bytes the kernel says are available (/proc/meminfo); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def workers_for(wanted: int, contacts: int, points: int, available: int | None = None) -> int:
    """The worker processes to run: as many as wanted, no more than the points, and no more than the available
    memory holds at four fifths (each holds a population of `contacts`); at least 1."""
    count = max(1, min(wanted, points))
    room = _available_memory() if available is None else available
    if room is not None:
        count = min(count, max(1, int(room * 0.8) // (_WORKER_BYTES + _CONTACT_BYTES * contacts)))
    return count


def run_points(tasks: Sequence[PointTask], workers: int, progress: Callable[[int, int], None] | None = None,
               cancel: CancelToken | None = None, dask: str | None = None) -> list[list[dict[str, np.ndarray]]]:
    """Every task's samples, in order: one after the other (workers 1), in `workers` processes (spawned: nothing
    of this process's threads is copied) or on the dask.distributed cluster whose scheduler is at `dask`
    (simulator/sweep_cluster.py). `progress(done, total)` counts finished points; `cancel` (a threading.Event)
    raises `Cancelled` and stops the worker processes at once (a running point is not waited for); the pool is
    shut down on the way out, also on an error, so no process outlives the call."""
    from simulator.engine import Cancelled
    if dask is not None:
        from simulator.sweep_cluster import run_on_cluster
        return run_on_cluster(tasks, dask, progress, cancel)
    out: list[list[dict[str, np.ndarray]]] = []
    if workers <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the sweep was cancelled")
            out.append(run_point(t, cancel))
            if progress is not None:
                progress(i + 1, len(tasks))
        return out
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, wait
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start)
    try:
        futures = [pool.submit(run_point, t) for t in tasks]
        pending = set(futures)
        while pending:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the sweep was cancelled")
            finished, pending = wait(pending, timeout=None if cancel is None else 0.1, return_when=FIRST_COMPLETED)
            for f in finished:
                f.result()  # a point's error now, not after the points before it
            if finished and progress is not None:
                progress(len(tasks) - len(pending), len(tasks))
        out = [f.result() for f in futures]
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's worker processes now (a cancel or an error: their points are not wanted any more)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(10)


# --- aggregation ------------------------------------------------------------------------------------------

def _events(samples: list[dict[str, np.ndarray]]) -> tuple[str, ...]:
    return tuple(str(e) for e in samples[0]["events"]) if samples else ()


def point_effect(samples: list[dict[str, np.ndarray]], outcome: str) -> dict[str, Any] | None:
    """The journey's incremental share of `outcome` with its 95% interval, exactly as `simulate` pools it."""
    effect = pooled_effect(samples, _events(samples)).get(outcome)
    return None if effect is None else effect["incremental"]


def replica_increments(samples: list[dict[str, np.ndarray]], outcome: str) -> np.ndarray:
    """Each replica's incremental share of `outcome` (NaN where nobody entered)."""
    j = _events(samples).index(outcome)
    out = []
    for s in samples:
        n = float(s["effect.n"])
        out.append((float(s["effect.with"][j]) - float(s["effect.without"][j])) / n if n > 0 else math.nan)
    return np.array(out)


def versus(point: np.ndarray, baseline: np.ndarray, lower_is_better: bool = False) -> dict[str, Any]:
    """The point against the baseline, replica by replica (see METHOD); `sure` counts the replicas in which it
    is better (lower, for an outcome such as unsubscribes)."""
    d = point - baseline
    d = d[np.isfinite(d)]
    k = len(d)
    if k == 0:
        return {"mean": None, "low": None, "high": None, "sure": None, "replicas": 0}
    mean = float(d.mean())
    better = (d < 0) if lower_is_better else (d > 0)
    half = t975(k - 1) * float(d.std(ddof=1)) / math.sqrt(k) if k > 1 else 0.0
    low, high = (mean - half, mean + half) if k > 1 else (None, None)
    return {"mean": round(mean, 6), "low": None if low is None else round(low, 6),
            "high": None if high is None else round(high, 6), "sure": round(float(better.mean()), 6),
            "replicas": k}


@dataclass(frozen=True)
class Sweep:
    """A sweep's inputs: the journey as it is, what varies, and the run's settings."""

    journey: Journey
    behaviour: BehaviourModel
    content: Mapping[str, Content]
    segments: Mapping[str, Segment]
    custom: Mapping[str, str]
    varied: tuple[Varied, ...]
    contacts: int
    seed: int
    replicas: int
    horizon_days: int | None = None
    shared_population: bool = False
    chunk_size: int = 0  # 0: the engine's default
    outcome: str | None = None  # None: the first effect event (the goal when the journey has one)


def prepare(sweep: Sweep, check: Callable[[Journey], Sequence[Finding]] | None = None
            ) -> tuple[list[dict[str, str]], list[PointTask]]:
    """The grid's points and a task for the baseline (first) and each point; every value checked first."""
    from app.codec.plain import journey_to_doc
    from simulator.engine import DEFAULT_CHUNK
    from simulator.request import RunRequest
    RunRequest(sweep.journey.id, contacts=sweep.contacts, seed=sweep.seed, replicas=sweep.replicas,
               horizon_days=sweep.horizon_days).validate()  # RunError on what `simulate` would refuse
    if len(sweep.varied) > MAX_VARIED or math.prod(len(v.values) for v in sweep.varied) > MAX_POINTS:
        raise SweepError(f"a sweep varies at most {MAX_VARIED} properties over at most {MAX_POINTS:,} points")
    points = grid_points(sweep.varied)
    for v in sweep.varied:  # each value read alone first, so that a refusal names that value only
        for text in v.values:
            apply_values(sweep.journey, sweep.behaviour, {v.target: text})
    checker = _Checker(sweep.journey, sweep.behaviour, check) if check is not None else None
    variants = [(sweep.journey, sweep.behaviour)]
    for p in points:
        variants.append(apply_values(sweep.journey, sweep.behaviour, p))
        if checker is not None:
            checker(variants[-1][0], p)

    def task(journey: Journey, behaviour: BehaviourModel) -> PointTask:
        return PointTask(journey_to_doc(journey), journey.id, behaviour.to_plain(), dict(sweep.content),
                         dict(sweep.segments), dict(sweep.custom), sweep.contacts, sweep.seed, sweep.replicas,
                         sweep.horizon_days, sweep.shared_population, sweep.chunk_size or DEFAULT_CHUNK)
    return points, [task(j, b) for j, b in variants]


def run_sweep(sweep: Sweep, *, workers: int = 1, check: Callable[[Journey], Sequence[Finding]] | None = None,
              progress: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None,
              dask: str | None = None) -> dict[str, Any]:
    """Run the baseline and every point (on `workers` processes, or on the dask cluster at `dask`); the sweep's
    JSON document (see `journey-studio sweep`), the same whichever runs the points."""
    from simulator.request import RunRequest, compile_for
    from simulator.world import effect_events
    points, tasks = prepare(sweep, check)
    plan = compile_for(RunRequest(sweep.journey.id, horizon_days=sweep.horizon_days), sweep.journey, sweep.content)
    expected = effect_events(plan, sweep.behaviour)
    if not expected:
        raise SweepError(f"'{sweep.journey.name}' reports no effect events to compare the points on")
    outcome = sweep.outcome or expected[0]
    if outcome not in expected:
        raise SweepError(f"--outcome {outcome}: not an effect event of this run (events: {', '.join(expected)})")
    keys = [json.dumps([t.journey_doc, t.behaviour], sort_keys=True, default=str) for t in tasks]
    first: dict[str, int] = {}
    # a point at the current values is the baseline's run
    unique = [i for i, k in enumerate(keys) if first.setdefault(k, i) == i]
    ran = dict(zip(unique, run_points([tasks[i] for i in unique], workers, progress, cancel, dask)))
    results = [ran[first[k]] for k in keys]
    events = _events(results[0])
    if outcome not in events or any(outcome not in _events(r) for r in results):  # a point's own events differ
        raise SweepError(f"--outcome {outcome}: not an effect event of every point (a behaviour figure that turns "
                         "it off?)")
    base_inc = replica_increments(results[0], outcome)
    lower = outcome in LOWER_IS_BETTER
    current = {v.target: current_value(sweep.journey, sweep.behaviour, v.target) for v in sweep.varied}
    rows: list[dict[str, Any]] = []
    for values, samples in zip(points, results[1:]):
        rows.append({"values": values, "effect": point_effect(samples, outcome),
                     "vs_baseline": versus(replica_increments(samples, outcome), base_inc, lower), "best": False})
    scored = [(-r["effect"]["mean"] if lower else r["effect"]["mean"], -i) for i, r in enumerate(rows)
              if r["effect"] and r["effect"]["mean"] is not None]
    if scored:
        rows[-max(scored)[1]]["best"] = True
    return {"journey": sweep.journey.name, "contacts": sweep.contacts, "replicas": sweep.replicas,
            "seed": sweep.seed, "outcome": outcome, "better": "lower" if lower else "higher", "runs": len(unique),
            "varied": [{"property": v.target, "values": list(v.values), "current": current[v.target]}
                       for v in sweep.varied],
            "baseline": {"values": current, "effect": point_effect(results[0], outcome)},
            "points": rows, "method": METHOD, "assumptions": assumptions(sweep)}


def assumptions(sweep: Sweep) -> list[str]:
    """What every point shares, in words."""
    from simulator.behaviour import behaviour_changes
    per = "one population for every replica" if sweep.shared_population or sweep.replicas == 1 \
        else "each replica its own population"
    changes = behaviour_changes(sweep.behaviour.to_plain())
    said = "the default behaviour figures" if not changes else \
        "behaviour figures edited: " + ", ".join(f"{n}={v}" for n, v, _ in changes[:12])
    horizon = f"{sweep.horizon_days} days" if sweep.horizon_days else "until the schedule ends (or 90 days)"
    return [f"{sweep.contacts:,} synthetic contacts, {per}, seed {sweep.seed}, {sweep.replicas} replicas: the "
            "same populations and seeds at every point (paired)",
            said, f"simulated {horizon}",
            "the baseline is the journey as it is (its current values); 'best' is the point with the highest "
            "incremental share of the outcome (the lowest for unsubscribes), the first of equals"]

