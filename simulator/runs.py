"""A saved simulation run: everything needed to replay it and compare, bit for bit.

A `RunRecord` holds the journey (its id, version and the full journey document as it was), the population's
spec (how to rebuild it), the behaviour model, the seed, replicas, horizon and chunk size, the engine version,
the results (the command line's JSON document) and the trace of replica 0 as bytes (`trace_npz`: packed
columns, simulator.packed, compressed with Zstandard's fastest level; runs saved before hold a compressed npz,
which still loads; either is decoded only when `trace()` is asked for). A population its spec cannot rebuild
(the project's own contacts, which change after the run) is kept whole, as npz bytes. The per-step daily
figures with their intervals (`StepIntervals`, for the replay view's hover figures) are kept as npz bytes too;
records saved before they existed have none (`step_intervals()` is None) and still replay.

`to_plain` / `from_plain` give a JSON-able form (the trace in base64); `to_bytes` / `from_bytes` give one
compact blob (a zip of record.json, trace.cols (trace.npz before) and the optional population.npz and
steps.npz) for a BLOB column of the project file; it is computed once and kept (a worker thread can make it, so
that the UI thread only stores it), and forgotten when a field is assigned. `replay()` reruns the recorded
inputs; the same inputs give the same trace digest.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from app.codec.plain import journey_from_doc, journey_to_doc
from app.model.journey import Journey
from app.errors import ProjectFileError
from simulator.behaviour import BehaviourModel, behaviour_changes
from simulator.engine import ENGINE_VERSION
from app.semantics.plan import Plan, compile_plan
from simulator.population import (Population, population_from_npz, population_from_spec, population_to_npz,
                                  replica_seed)
from simulator.replicas import SimulationResult, StepIntervals, simulate
from simulator.packed import is_packed
from simulator.trace import Trace

FORMAT = "simulation-run/1"
TRACE_MEMBER = "trace.cols"  # the trace as packed columns (simulator.packed); runs saved before hold trace.npz


@dataclass
class RunRecord:
    """One saved run (see the module docstring)."""

    journey_id: str
    journey_version: int
    journey_doc: dict[str, Any]
    population: dict[str, Any]
    behaviour: dict[str, Any]
    seed: int
    replicas: int
    horizon: int
    chunk_size: int
    results: dict[str, Any]
    trace_npz: bytes  # Trace.to_bytes() (an older run's Trace.to_npz(): Trace.from_bytes reads both)
    trace_digest: str
    engine_version: str = ENGINE_VERSION
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    population_npz: bytes = b""  # the population's columns when its spec cannot rebuild it (else empty)
    steps_npz: bytes = b""  # StepIntervals.to_npz() (empty in records saved before they were kept)
    replicas_npz: bytes = b""  # SimulationResult.replicas_npz(): per-replica figures (empty in older records)
    _blob: bytes | None = field(default=None, init=False, repr=False, compare=False)  # to_bytes(), once made

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_blob" and self.__dict__.get("_blob") is not None:
            object.__setattr__(self, "_blob", None)  # a changed record is serialised anew
        object.__setattr__(self, name, value)

    @classmethod
    def from_result(cls, result: SimulationResult, journey: Journey, population_spec: Mapping[str, Any],
                    behaviour: BehaviourModel, *, chunk_size: int, content: Mapping[str, Any] | None = None,
                    segments: Mapping[str, Any] | None = None, population: Population | None = None,
                    custom: Mapping[str, str] | None = None) -> RunRecord:
        """A record of a finished simulation of `journey`.

        `population` is required when its spec is not synthetic (its data are then kept in the record).
        `custom` (the project's custom attributes) is kept when synthetic segments are evaluated with them.
        """
        kept = b""
        spec = dict(population_spec)
        if spec.get("kind") != "synthetic":
            if population is None:
                raise ValueError(f"a {population_spec.get('kind')!r} population cannot be rebuilt from its spec: "
                                 "pass the population itself")
            kept = population_to_npz(population)
        elif custom:
            spec["custom_attributes"] = dict(custom)
        # the digest on a thread of its own while the trace is packed (hashing and Zstandard let go of the GIL)
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(result.trace.digest)
            trace_bytes = result.trace.to_bytes()
            return cls(journey.id, journey.version, journey_to_doc(journey, content, segments), spec,
                       behaviour.to_plain(), result.seed, result.replicas, result.plan.horizon, chunk_size,
                       result.to_json(), trace_bytes, digest.result(), population_npz=kept,
                       steps_npz=result.step_intervals().to_npz(), replicas_npz=result.replicas_npz())

    def behaviour_changes(self) -> tuple[tuple[str, Any, Any], ...]:
        """The behaviour figures of this run that differ from the defaults (see `behaviour.behaviour_changes`)."""
        return behaviour_changes(self.behaviour)

    def trace(self) -> Trace:
        """The recorded trace of replica 0."""
        return Trace.from_bytes(self.trace_npz)

    def replica_figures(self) -> dict[str, Any] | None:
        """Each replica's entries and funnel figures (for paired comparisons); None for older records."""
        if not self.replicas_npz:
            return None
        with np.load(io.BytesIO(self.replicas_npz), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def step_intervals(self) -> StepIntervals | None:
        """Per-step daily figures over replicas with intervals; None for a record saved before they were kept."""
        return StepIntervals.from_npz(self.steps_npz) if self.steps_npz else None

    def journey(self) -> Journey:
        """The journey as it was when the run was made."""
        return journey_from_doc(self.journey_doc, journey_id=self.journey_id)[0]

    def content(self) -> dict[str, Any]:
        """The journey's content as it was when the run was made (name -> Content)."""
        return {c.name: c for c in journey_from_doc(self.journey_doc, journey_id=self.journey_id)[1]}

    def plan(self) -> Plan:
        """The run's plan: the journey as it was, its content's links, the recorded horizon."""
        return compile_plan(self.journey(), horizon=self.horizon, content=self.content())

    def population_(self, replica: int = 0) -> Population:
        """The population of the run (of replica `replica` when each drew its own): made again from its spec, or
        read from the kept data."""
        if self.population_npz:
            return population_from_npz(self.population_npz)
        segments = journey_from_doc(self.journey_doc, journey_id=self.journey_id)[2]
        spec = dict(self.population)
        if replica and spec.get("per_replica"):
            spec["seed"] = replica_seed(int(spec["seed"]), replica)
        return population_from_spec(spec, definitions={s.name: s for s in segments},
                                    custom=spec.get("custom_attributes"))

    def replay(self) -> SimulationResult:
        """Run the recorded inputs again (same inputs, same engine version: the same trace digest)."""
        if self.engine_version != ENGINE_VERSION:
            raise ValueError(f"this run was made by engine version {self.engine_version}; this version "
                             f"({ENGINE_VERSION}) simulates differently, so it cannot replay it bit for bit (its "
                             "saved trace and figures still show)")
        plan = self.plan()
        pop: Any = self.population_
        if not self.population.get("per_replica"):
            pop = self.population_()
        return simulate(plan, pop, BehaviourModel.from_plain(self.behaviour),
                        self.seed, self.replicas, chunk_size=self.chunk_size)

    # --- persistence ---------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "journey_id": self.journey_id, "journey_version": self.journey_version,
                "journey": self.journey_doc, "population": self.population, "behaviour": self.behaviour,
                "seed": self.seed, "replicas": self.replicas, "horizon": self.horizon,
                "chunk_size": self.chunk_size, "engine_version": self.engine_version, "created_at": self.created_at,
                "results": self.results, "trace_digest": self.trace_digest}

    def to_plain(self) -> dict[str, Any]:
        """A JSON-able form (the trace as base64 of its npz bytes)."""
        plain = {**self._meta(), "trace_npz": base64.b64encode(self.trace_npz).decode("ascii")}
        if self.population_npz:
            plain["population_npz"] = base64.b64encode(self.population_npz).decode("ascii")
        if self.steps_npz:
            plain["steps_npz"] = base64.b64encode(self.steps_npz).decode("ascii")
        if self.replicas_npz:
            plain["replicas_npz"] = base64.b64encode(self.replicas_npz).decode("ascii")
        return plain

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> RunRecord:
        """Read `to_plain`'s form; an unknown format is refused."""
        if d.get("format") != FORMAT:
            raise ValueError(f"not a simulation run record (format {d.get('format')!r}, expected {FORMAT})")
        return cls(str(d["journey_id"]), int(d["journey_version"]), dict(d["journey"]), dict(d["population"]),
                   dict(d["behaviour"]), int(d["seed"]), int(d["replicas"]), int(d["horizon"]),
                   int(d["chunk_size"]), dict(d["results"]), base64.b64decode(d["trace_npz"]),
                   str(d["trace_digest"]), str(d["engine_version"]), str(d["created_at"]),
                   base64.b64decode(d["population_npz"]) if d.get("population_npz") else b"",
                   base64.b64decode(d["steps_npz"]) if d.get("steps_npz") else b"",
                   base64.b64decode(d["replicas_npz"]) if d.get("replicas_npz") else b"")

    def to_bytes(self) -> bytes:
        """One blob: a zip of record.json and trace.npz (already compressed, so stored as is), made once."""
        blob = self._blob
        if blob is None:
            blob = self._blob = self._zip()
        return blob

    def _zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            # key order is kept, not sorted: the journey document's step order is part of the input (it fixes
            # the plan's topological order, hence the trace)
            z.writestr(zipfile.ZipInfo("record.json"), json.dumps(self._meta()),
                       compress_type=zipfile.ZIP_DEFLATED)
            # the trace's own bytes (packed columns, compressed already; an older run's npz keeps its name)
            z.writestr(zipfile.ZipInfo(TRACE_MEMBER if is_packed(self.trace_npz) else "trace.npz"), self.trace_npz,
                       compress_type=zipfile.ZIP_STORED)
            if self.population_npz:
                z.writestr(zipfile.ZipInfo("population.npz"), self.population_npz, compress_type=zipfile.ZIP_STORED)
            if self.steps_npz:
                z.writestr(zipfile.ZipInfo("steps.npz"), self.steps_npz, compress_type=zipfile.ZIP_STORED)
            if self.replicas_npz:
                z.writestr(zipfile.ZipInfo("replicas.npz"), self.replicas_npz, compress_type=zipfile.ZIP_STORED)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RunRecord:
        """Read `to_bytes`'s blob (one without steps.npz, saved before it existed, too)."""
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            meta = json.loads(z.read("record.json"))
            names = set(z.namelist())
            npz = z.read(TRACE_MEMBER if TRACE_MEMBER in names else "trace.npz")
            pop = z.read("population.npz") if "population.npz" in names else b""
            steps = z.read("steps.npz") if "steps.npz" in names else b""
            per_replica = z.read("replicas.npz") if "replicas.npz" in names else b""
        record = cls.from_plain(meta | {"trace_npz": ""})
        record.trace_npz, record.population_npz, record.steps_npz = npz, pop, steps
        record.replicas_npz = per_replica
        return record


def load_run(pf: Any, run_id: int) -> RunRecord:
    """The saved record of run `run_id` in project file `pf` (replay it with `.replay()`); a damaged one is a
    `ProjectFileError` in one line."""
    data = pf.load_run_bytes(run_id)
    try:
        return RunRecord.from_bytes(data)
    except Exception as e:  # noqa: BLE001 - a damaged blob: one clear line
        raise ProjectFileError(f"{pf.path}: saved simulation run {run_id} cannot be read: {e}") from None
