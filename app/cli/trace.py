"""`journey-studio trace PROJECT RUN --contact ID`: one contact's story in a run, step by step, with why.

RUN is a saved simulation run's id (`journey-studio runs`): the run is re-derived for that contact
(simulator/story.py) and checked against the run's saved trace. RUN may also name a live run (its package, or its
state folder NAME.jpkg.run): the story is then read from the runner's state and the contact's path re-derived from
the run's contacts database (app/runner/live_story.py, live_story_derive.py), checked against the state.
Registered lazily (app/cli/main.py's LAZY_COMMANDS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli.main import _open, cli, fail
from app.errors import JourneyStudioError

if TYPE_CHECKING:
    from simulator.story import Story

MAX_ID = 2 ** 62


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("run")
@click.option("--contact", "contact", type=click.IntRange(-MAX_ID, MAX_ID), required=True,
              help="The contact's id (as `segment members` lists it; a synthetic contact's id in the run).")
@click.option("--replica", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Which replica of the run (its own population and draws when each replica drew one).")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="A live run's state folder, when RUN is its package and the state is not beside it.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="A live run's split seed (as given to `journey-studio run --seed`), to re-derive its splits "
                   "(default: the seed the run recorded).")
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON (format contact-story/1).")
def trace(project: str, run: str, contact: int, replica: int, state_dir: str | None, seed: int | None,
          as_json: bool) -> None:
    """One contact's story in a run: each step entered and left, what was sent, what it did, and why each branch
    went the way it did."""
    if run.strip().isdigit() and len(run.strip()) < 19:
        if seed is not None:
            fail("--seed is for a live run; a saved simulation run keeps its own")
        story = _simulated(project, int(run), contact, replica - 1)
        click.echo(json.dumps(story.to_plain(), indent=1) if as_json else "\n".join(story.lines()))
        return
    if replica != 1:
        fail("--replica is for a simulation run; a live run has one")
    from app.cli.runner import _runnable, run_of
    from app.runner.live_story import LiveStoryError, live_story
    if not Path(project).exists():
        fail(f"{project}: no such project file (create one with: journey-studio new {project})")
    package, state = run_of(run, state_dir)
    r = _runnable(package)  # a RunnerError is one line, as every JourneyStudioError
    try:
        live = live_story(state, r.key, r.plan, contact, runnable=r, seed=seed)
    except LiveStoryError as e:
        fail(str(e))
    click.echo(json.dumps(live.to_plain(), indent=1) if as_json else "\n".join(live.lines()))


def _simulated(project: str, run_id: int, contact: int, replica: int) -> Story:
    from simulator.runs import load_run
    from simulator.story import StoryError, tell
    with _open(project, write=False) as pf:
        try:
            record = load_run(pf, run_id)
        except JourneyStudioError as e:
            fail(f"{e}" + ("" if "no saved" not in str(e) else " (see: journey-studio runs " + project + ")"))
    try:
        return tell(record, contact, replica=replica, run=run_id)
    except StoryError as e:
        fail(str(e))
    except (KeyError, ValueError) as e:  # a population spec this version cannot rebuild, and the like
        fail(f"run {run_id} cannot be re-derived: {e.args[0] if e.args else e}")
