"""The speed-ups of `simulate` keep its numbers: a synthetic base's lists and history (drawn apart, when read or
on a thread of their own) are the same whenever, in whatever order and from whichever thread they are read; the
picks by share are rng.choice's; a large trace packed on two threads reads back the same; a saved run's
population spec still rebuilds the population of the run; and the command, called in-process, returns."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.audience import synthetic
from app.audience.synthetic import _choice, synthesize
from app.resources import resource_path
from simulator.packed import THREADED_BYTES, pack, unpack
from simulator.population import profile_for_locale
from tests.cli_helpers import run

AS_OF = 1_796_115_600


def _parts(base: synthetic.ContactBase, first: str) -> list[np.ndarray]:
    """The history's and the lists' arrays, one or the other read first."""
    if first == "history":
        inter = base.interactions
        lists = base.lists
    else:
        lists = base.lists
        inter = base.interactions
    return [inter.contact, inter.kind, inter.at, inter.value, lists.indptr, lists.codes]


@pytest.mark.parametrize("threaded", [True, False])
def test_lists_and_history_are_the_same_in_any_order_and_from_any_thread(threaded: bool,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_THREADED", 1 if threaded else 10**9)
    kw = dict(as_of=AS_OF, static=("Picked",), lists=("Weekly",))
    profile = profile_for_locale("mixed")
    history_first = _parts(synthesize(6000, 9, profile, **kw), "history")  # type: ignore[arg-type]
    lists_first = _parts(synthesize(6000, 9, profile, **kw), "lists")  # type: ignore[arg-type]
    base = synthesize(6000, 9, profile, **kw)  # type: ignore[arg-type]
    seen: list[list[np.ndarray]] = []
    readers = [threading.Thread(target=lambda: seen.append(_parts(base, "history"))) for _ in range(4)]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    for got in [lists_first, *seen]:
        assert all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f") for a, b in zip(history_first, got))
    assert all(s[0] is seen[0][0] for s in seen)  # drawn once, whichever thread asked first
    base.lists = base.lists.take(np.arange(10))  # a part can still be replaced, as for any ContactBase
    assert len(base.lists.indptr) == 11


@pytest.mark.parametrize("p", [[0.7, 0.3], [0.2, 0.0, 0.8], [1.0], list(np.full(16, 1 / 16)),
                               list(np.full(17, 1 / 17)), "zipf"])
def test_picks_by_share_are_numpys_and_only_where_asked(p: object) -> None:
    shares = 1.0 / (np.arange(1, 5001) + 10.0) ** 1.1 if p == "zipf" else np.array(p, dtype=np.float64)
    shares = shares / shares.sum()
    ours, numpys = np.random.default_rng(3), np.random.default_rng(3)
    assert np.array_equal(_choice(ours, shares, 40_000), numpys.choice(len(shares), size=40_000, p=shares))
    where = np.random.default_rng(4).random(40_000) < 0.3
    picked = _choice(ours, shares, 40_000, where=where)
    expected = numpys.choice(len(shares), size=40_000, p=shares)
    assert np.array_equal(picked[where], expected[where]) and (picked[~where] == -1).all()
    assert ours.random() == numpys.random()  # the stream goes on from the same place


def test_a_large_trace_packed_on_two_threads_reads_back_the_same() -> None:
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray] = {"contact": rng.integers(0, 10**6, THREADED_BYTES // 4 + 12_345, dtype=np.int32),
                                     "at": np.arange(300_000, dtype=np.int64), "flag": rng.random(1001) < 0.5}
    for codec in ("zstd", "raw"):
        back, header = unpack(pack(arrays, {"n": 3}, codec=codec))
        assert header == {"n": 3} and back.keys() == arrays.keys()
        assert all(np.array_equal(back[k], arrays[k]) and back[k].dtype == arrays[k].dtype for k in arrays)


def test_a_saved_runs_population_is_made_again_for_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.store import ProjectFile
    from simulator.runs import load_run
    project = tmp_path / "p.jstudio"
    assert run(capsys, "new", project)[0] == 0
    assert run(capsys, "import", project, resource_path("templates", "re-engagement.yaml"))[0] == 0
    code, _, err = run(capsys, "simulate", project, "--journey", "Re-engagement", "--contacts", "60000", "--seed",
                       "4", "--save")
    assert code == 0, err  # in-process: the command returned (it ends the process only when started as one)
    with ProjectFile.open(project, readonly=True) as pf:
        record = load_run(pf, 1)
    again = record.replay()
    assert again.trace.digest() == record.trace_digest
    pop = record.population_()
    inter = pop.source.base.interactions if pop.source is not None else None
    assert inter is not None and len(inter) > len(pop)  # the history, drawn when read, is there for who needs it


def test_the_cut_points_are_np_quantiles_numbers() -> None:
    from app.audience.synthetic import _quantiles
    rng = np.random.default_rng(0)
    for i in range(400):
        n = int(rng.integers(1, 2000))
        x = rng.normal(size=n) * rng.lognormal(size=n)
        if i % 3 == 0:
            x = np.round(x, 1)  # ties
        q = np.cumsum(rng.dirichlet(np.ones(int(rng.integers(2, 8)))))[:-1] if i % 4 else np.array([0.0, 0.5, 1.0])
        assert np.array_equal(_quantiles(x, q), np.quantile(x, q)), (n, q)
