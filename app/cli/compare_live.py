"""`journey-studio compare PROJECT RUN --live PACKAGE-or-RUN`: a saved simulation run's forecast (the approved
one, as a rule) next to a live run's counts, step by step.

Both sides are read as the simulator's funnel has them (steps in the plan's order, the virtual end last; the
figures under the funnel's names: simulator/metrics.py `funnel`, app/runner/status.py `funnel_rows`), and both
are put per 100 contacts who entered the journey, so that a forecast of 100,000 simulated contacts and a live run
of 4,000 sit side by side. The live side is a run's package or state folder (its counts read as `status` reads
them) or the JSON `status --json` printed (a snapshot kept for later).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import click

from app.cli.main import _open, fail

MAX_SNAPSHOT = 16 * 1024 * 1024  # a status --json of a journey of thousands of steps is far below this
# the live figures each forecast figure is compared with: the simulator counts a message not sent for want of
# an address, or whose send failed for good, as suppressed (the interpreter's 'not sent')
LIVE_OF = {"suppressed": ("suppressed", "no_address", "failed")}
FIGURES = ("entered", "sent", "suppressed", "capped", "yes", "no", "done", "shared", "holdout",
           *(f"path_{c}" for c in "ABCDEFGHIJ"), "completed")
MEANING = (
    "What the columns mean:",
    "  forecast %  the saved run's figure per 100 contacts who entered the journey: the mean over its replicas",
    "              with its 95% interval (low-high); what the journey is expected to do once everybody has",
    "              gone through it (to the simulated horizon)",
    "  live n      contacts counted so far in the live run (now, not at the end: a run under way has not yet",
    "              reached its later steps, and its contacts still waiting count at the step they are at)",
    "  live %      live n per 100 contacts who entered the live run so far",
    "  A live 'suppressed' adds the messages not sent for want of an address or because the send failed, as the",
    "  simulator counts them.",
)


def read_live(target: str, state_dir: str | None, temporal: str | None) -> tuple[dict[str, Any], str]:
    """The live counts and where they come from: a `status --json` file, or a run (package or state folder)."""
    p = Path(target)
    if p.is_file() and p.suffix.lower() == ".json":
        if p.stat().st_size > MAX_SNAPSHOT:
            fail(f"{target}: {p.stat().st_size:,} bytes, more than a status snapshot holds ({MAX_SNAPSHOT:,})")
        try:
            counts = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            fail(f"{target}: not the JSON of journey-studio status --json ({type(e).__name__}: {e})")
        if not isinstance(counts, dict) or not isinstance(counts.get("steps"), list) or "key" not in counts:
            fail(f"{target}: not the JSON of journey-studio status --json (no 'key' and 'steps')")
        return counts, f"{target} (a status snapshot)"
    from app.cli.runner import live_counts, run_of
    counts = live_counts(target, state_dir, temporal)
    at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return counts, f"{run_of(target, state_dir)[1]} (read {at})"


def _live_rows(counts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The live figures per step, funnel names (a snapshot of an older status has only `steps`)."""
    rows = counts.get("funnel")
    if isinstance(rows, list):
        return [r for r in rows if isinstance(r, dict) and isinstance(r.get("step"), str)]
    out = [{str(k).replace("path ", "path_"): v for k, v in r.items()} for r in counts.get("steps") or ()
           if isinstance(r, dict) and isinstance(r.get("step"), str)]
    completed = (counts.get("outcomes") or {}).get("completed")
    if isinstance(completed, int):
        out.append({"step": "end", "type": "end", "entered": completed, "completed": completed})
    return out


def _live_value(row: Mapping[str, Any], figure: str) -> int | None:
    names = LIVE_OF.get(figure, (figure,))
    found = [row[n] for n in names if isinstance(row.get(n), int) and not isinstance(row.get(n), bool)]
    return sum(found) if found else None


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


Rates = dict[tuple[str, str], tuple[float, float | None, float | None]]


def replica_rates(pf: Any, run_id: int) -> Rates:
    """(step, figure) -> the mean over replicas of each replica's count per contact who entered the journey in
    it, with the 95% t interval of that mean (None with one replica); {} for a run saved without its
    per-replica figures (then the summary's means are used)."""
    import numpy as np

    from simulator.compare import _t975
    from simulator.runs import load_run
    per = load_run(pf, run_id).replica_figures()
    if not per or "entries" not in per or "steps" not in per:
        return {}
    entries = np.asarray(per["entries"], dtype=np.float64)
    steps = [str(x) for x in per["steps"]]
    k = len(entries)
    out: Rates = {}
    for name, counts in per.items():
        if not name.startswith("funnel.") or getattr(counts, "ndim", 0) != 2 or counts.shape != (k, len(steps)):
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(entries[:, None] > 0, counts / entries[:, None], np.nan)
        for i, step in enumerate(steps):
            r = rates[:, i][np.isfinite(rates[:, i])]
            if len(r) == 0:
                continue
            mean = float(r.mean())
            half = _t975(len(r) - 1) * float(r.std(ddof=1)) / len(r) ** 0.5 if len(r) > 1 else None
            out[(step, name[len("funnel."):])] = (mean, None if half is None else max(mean - half, 0.0),
                                                  None if half is None else mean + half)
    return out


def _forecast_text(rates: Rates, step: str, figure: str, fig: Any, base: float | None) -> str:
    """A forecast figure per 100 entered: from the replicas' own rates, else the summary's mean over `base`."""
    if (step, figure) in rates:
        mean, low, high = rates[(step, figure)]
        text = f"{100 * mean:.1f}"
        return text + (f" ({100 * low:.1f}-{100 * high:.1f})" if low is not None and high is not None else "")
    plain = _number(fig.get("mean")) if isinstance(fig, Mapping) else None
    return "-" if plain is None or not base else f"{100 * plain / base:.1f}"


def comparison_lines(run: Any, counts: Mapping[str, Any], source: str, rates: Rates | None = None) -> list[str]:
    """The forecast of saved run `run` (a RunInfo; `rates` from its replicas) next to the live `counts`."""
    rates = rates or {}
    summary = run.summary if isinstance(run.summary, Mapping) else {}
    forecast = {r["step"]: r for r in summary.get("funnel") or () if isinstance(r, Mapping) and "step" in r}
    live = _live_rows(counts)
    if not forecast:
        fail(f"run {run.id} has no per-step figures saved (a run saved by an older version): simulate again")
    key = str(counts.get("key", ""))
    journey_id, _, version = key.rpartition(":v")
    if journey_id and journey_id != run.journey_id:
        fail(f"run {run.id} simulated journey '{run.journey_name}' ({run.journey_id}); the live run is of another "
             f"journey ({journey_id}): compare a run of the journey that is live")
    entry = live[0]["step"] if live else None
    base_f = _number((forecast.get(entry or "") or {}).get("entered", {}).get("mean")) if entry else None
    base_l = live[0].get("entered") if live and isinstance(live[0].get("entered"), int) else None
    approved = f"approved by {run.approved_by}" if run.approved else "NOT approved"
    lines = [f"Forecast and live: '{counts.get('journey', run.journey_name)}'",
             f"  forecast  run {run.id} '{run.name}' of version {run.journey_version} ({approved}): "
             f"{summary.get('contacts') or run.population.get('contacts', '?')} simulated contacts, seed {run.seed}, "
             f"{run.replicas} replica{'s' if run.replicas != 1 else ''}",
             f"  live      {key}: {counts.get('enrolled', 0):,} enrolled, "
             f"{int(counts.get('running', 0)) - int(counts.get('attributing', 0)):,} still in the journey; {source}"]
    if version.isdigit() and int(version) != run.journey_version:
        lines.append(f"  note      the forecast is of version {run.journey_version}, the live run of version {version}"
                     ": steps changed since may differ")
    lines += ["", *MEANING, ""]
    table = [["step", "type", "figure", "forecast %", "live n", "live %"]]
    steps = [r["step"] for r in live] + [s for s in forecast if s not in {r["step"] for r in live}]
    by_live = {r["step"]: r for r in live}
    for sid in steps:
        frow, lrow = forecast.get(sid, {}), by_live.get(sid, {})
        kind = str(lrow.get("type") or frow.get("type") or "")
        first = True
        for figure in FIGURES:
            lv = _live_value(lrow, figure) if lrow else None
            if figure not in frow and lv is None:
                continue
            if figure != "entered" and not lv and not _number((frow.get(figure) or {}).get("mean")):
                continue  # a figure nothing counts on either side
            live_pct = f"{100 * lv / base_l:.1f}" if lv is not None and base_l else "-"
            table.append([sid if first else "", kind if first else "", figure,
                          _forecast_text(rates, sid, figure, frow.get(figure), base_f),
                          f"{lv:,}" if lv is not None else "-", live_pct])
            first = False
        if not lrow and not first:
            table[-1][5] = "- (step not in the live journey)"
        elif not frow and not first:
            table[-1][3] = "- (step not in the forecast)"
    conv = summary.get("conversion")
    goal = counts.get("goal_reached")
    if isinstance(conv, Mapping) or isinstance(goal, int):
        g = f"{100 * goal / base_l:.1f}" if isinstance(goal, int) and base_l else "-"
        table.append(["(journey)", "", "goal reached", _forecast_text({}, "", "", conv, 1.0)
                      + (f" ({100 * conv['low']:.1f}-{100 * conv['high']:.1f})" if isinstance(conv, Mapping)
                         and _number(conv.get("low")) is not None and _number(conv.get("high")) is not None
                         and run.replicas > 1 else ""),
                      f"{goal:,}" if isinstance(goal, int) else "-", g])
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    for row in table:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     .rstrip())
    return lines


def compare_live(project: str, run_id: int, live: str, state_dir: str | None, temporal: str | None) -> None:
    """Print a saved run's forecast next to the live counts of `live` (see the module's docstring)."""
    with _open(project, write=False) as pf:
        infos = {i.id: i for i in pf.runs()}
        if run_id not in infos:
            fail(f"{project}: there is no saved simulation run {run_id} (list them with: journey-studio runs "
                 f"{project})")
        rates = replica_rates(pf, run_id)
    counts, source = read_live(live, state_dir, temporal)
    for line in comparison_lines(infos[run_id], counts, source, rates):
        click.echo(line)
