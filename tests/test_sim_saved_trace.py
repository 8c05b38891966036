"""How a saved run keeps its trace: packed columns (Zstandard, or as they are without it) that give the same
trace back bit for bit, and runs saved before as compressed npz still load."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.codec.yamlio import read_journey_file
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from simulator import packed
from simulator.behaviour import BehaviourModel
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import TRACE_MEMBER, RunRecord, load_run
from simulator.trace import Trace

needs_zstd = pytest.mark.skipif(packed._zstandard() is None, reason="the zstandard package is not installed")


def _record(seed: int = 4) -> RunRecord:
    j, contents, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    plan = compile_plan(j)
    pop = population_for(plan, 3000, seed, definitions={s.name: s for s in segments})
    result = simulate(plan, pop, BehaviourModel(), seed, 1, chunk_size=1000)
    return RunRecord.from_result(result, j, pop.spec, BehaviourModel(), chunk_size=1000,
                                 content={c.name: c for c in contents}, segments={s.name: s for s in segments})


def test_packed_columns_round_trip_every_dtype_writable_and_aligned() -> None:
    arrays = {"a": np.arange(7, dtype=np.int8), "b": np.array([-1, 2**40], dtype=np.int64),
              "c": np.zeros(0, dtype=np.int32), "d": np.array([0.5, np.nan]), "e": np.arange(12).reshape(3, 4)[:, 1],
              "f": np.arange(12, dtype=np.int32).reshape(3, 4), "g": np.array(["Paris", "Zürich"])}
    for codec in ("zstd", "raw") if packed._zstandard() is not None else ("raw",):
        data = packed.pack(arrays, {"note": "é"}, codec=codec)
        assert packed.is_packed(data)
        back, header = packed.unpack(data)
        assert header == {"note": "é"} and list(back) == list(arrays)
        for name, a in arrays.items():
            assert back[name].dtype == a.dtype and back[name].shape == a.shape
            assert np.array_equal(back[name], a, equal_nan=a.dtype.kind == "f")
            assert back[name].flags.writeable and back[name].ctypes.data % 8 == 0
    with pytest.raises(ValueError, match="not packed"):
        packed.unpack(b"something else")


@needs_zstd
def test_without_zstandard_columns_are_kept_as_they_are_and_a_compressed_run_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = {"x": np.arange(1000, dtype=np.int32)}
    compressed = packed.pack(arrays, codec="zstd")
    monkeypatch.setattr(packed, "_zstandard", lambda: None)
    raw = packed.pack(arrays)
    assert len(raw) > len(compressed) and np.array_equal(packed.unpack(raw)[0]["x"], arrays["x"])
    with pytest.raises(ValueError, match="install the 'zstandard' package"):
        packed.unpack(compressed)


@needs_zstd
def test_a_run_keeps_its_trace_packed_and_compressed() -> None:
    rec = _record()
    trace = rec.trace()
    assert trace.digest() == rec.trace_digest
    raw = sum(a.nbytes for t in ("visits", "messages", "units") for a in getattr(trace, t).values())
    assert packed.is_packed(rec.trace_npz) and len(rec.trace_npz) < raw / 2
    with zipfile.ZipFile(io.BytesIO(rec.to_bytes())) as z:
        assert TRACE_MEMBER in z.namelist() and "trace.npz" not in z.namelist()
    assert Trace.from_bytes(trace.to_bytes()).digest() == trace.digest()


def _old_blob(rec: RunRecord) -> bytes:
    """A run as versions before packed traces saved it: record.json and trace.npz (savez_compressed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("record.json"), json.dumps(rec._meta()), compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(zipfile.ZipInfo("trace.npz"), rec.trace().to_npz(), compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo("steps.npz"), rec.steps_npz, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def test_a_run_saved_as_compressed_npz_still_loads_and_replays(tmp_path: Path) -> None:
    rec = _record()
    old = RunRecord.from_bytes(_old_blob(rec))
    assert not packed.is_packed(old.trace_npz)
    assert old.trace().digest() == rec.trace_digest
    assert old.replay().trace.digest() == rec.trace_digest
    assert RunRecord.from_bytes(old.to_bytes()) == old  # kept as it was: still an npz under its old name

    project = Project("Old runs")
    j, contents, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    import_journey(project, j, contents, segments)
    path = tmp_path / "p.jstudio"
    ProjectFile.create(path, project=project).close()
    with ProjectFile.open(path) as pf:
        saved = replace(old, journey_id=pf.project.journey("Re-engagement").id)
        run_id = pf.save_run(saved)
    with ProjectFile.open(path, readonly=True) as pf:
        loaded = load_run(pf, run_id)
    assert loaded.trace().digest() == rec.trace_digest
    assert loaded.results["funnel"] == rec.results["funnel"]
