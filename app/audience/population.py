"""`generate`: a synthetic customer base written into a project file (the demo project, `journey-studio
population`, `simulate --population-out`).

The contacts come from the one generator, app.audience.synthetic, drawn from a population profile
(app.audience.profile); this module writes them: accounts, contacts, subscription list memberships,
interactions and assumed static segment members, in one transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace as dc_replace
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, func, select

from app.audience import bulk
from app.audience.base import DAY, ContactBase
from app.audience.base_load import rebuild_base, rebuilds, write_base
from app.audience.profile import DEFAULT_LISTS as PROFILE_LISTS
from app.audience.profile import PopulationProfile
from app.audience.synthetic import MAX_SIZE, synthesize
from app.errors import AudienceError
from app.files import os_reason
from app.store import ProjectFile
from app.store import schema as t

DEFAULT_LISTS: tuple[str, ...] = tuple(name for name, _ in PROFILE_LISTS)


@dataclass(frozen=True)
class PopulationReport:
    """What `generate` wrote, and how long it took."""

    contacts: int
    accounts: int
    interactions: int
    subscriptions: int
    seed: int
    as_of: date
    locales: tuple[str, ...]
    seconds: float


def _profile_for(profile: PopulationProfile | None, locales: Sequence[str], lists: Sequence[str]) -> PopulationProfile:
    """The profile to draw from: the given one, else the default over `locales`; named `lists` replace the
    profile's lists (taking their shares in order)."""
    p = profile or PopulationProfile.for_locales(tuple(locales))
    if tuple(lists) != DEFAULT_LISTS:
        shares = [s for _, s in PROFILE_LISTS]
        p = dc_replace(p, lists=tuple((name, shares[i % len(shares)]) for i, name in enumerate(lists)))
    return p


def generate(target: ProjectFile | Connection, size: int, seed: int, locales: Sequence[str] = ("en_US",), *,
             accounts: int | None = None, lists: Sequence[str] = DEFAULT_LISTS, as_of: date | None = None,
             replace: bool = False, profile: PopulationProfile | None = None) -> PopulationReport:
    """Generate `size` contacts (and accounts, list memberships, interactions) into a project file.

    `as_of` is the day the base is seen from (default: today, UTC): recency and ages count back from it.
    `profile` gives the distributions (default: the default profile over `locales`). A project that already
    has contacts is refused unless `replace`, which first deletes every contact, account, interaction, list
    membership and static segment member.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        raise AudienceError(f"the population size must be a whole number from 1 to {MAX_SIZE:,}, not {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AudienceError(f"the seed must be a whole number from 0, not {seed!r}")
    if accounts is not None and (isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 0):
        raise AudienceError(f"the number of accounts must be a whole number from 0, not {accounts!r}")
    if not locales and profile is None:
        raise AudienceError("give at least one locale, e.g. en_US")
    if any(not isinstance(n, str) or not n.strip() for n in lists):
        raise AudienceError("subscription list names cannot be empty")
    day = as_of or datetime.now(timezone.utc).date()
    chosen = _profile_for(profile, locales, lists)
    started = time.perf_counter()
    moment = (day - date(1970, 1, 1)).days * DAY
    with bulk.phase("draw the population (synthesize)", "drawing the contacts"):
        base = synthesize(size, seed, chosen, as_of=moment, accounts=accounts)
    return write_population(target, base, replace=replace, seed=seed, as_of=day,
                            locales=tuple(n for n, _ in chosen.locales), started=started)


def write_population(target: ProjectFile | Connection, base: ContactBase, *, replace: bool = False, seed: int = 0,
                     as_of: date | None = None, locales: tuple[str, ...] = (),
                     started: float | None = None) -> PopulationReport:
    """Write a base into a project file (refused if it has contacts, unless `replace`), in one transaction."""
    started = time.perf_counter() if started is None else started

    from app.audience.moment import unwatch

    def existing(conn: Connection) -> int:
        """The contacts and accounts the project has (refused unless `replace`)."""
        unwatch(conn)  # cached columns go; no trigger fires per loaded row
        found = conn.execute(select(func.count()).select_from(t.contacts)).scalar_one()
        found += conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()
        if found and not replace:
            raise AudienceError("the project already has contacts or accounts; replace them to generate a new "
                                "population (nothing was changed)")
        return int(found)

    def run(conn: Connection) -> tuple[int, int, int, int]:
        counts = write_base(conn, base, clear=bool(existing(conn)))
        bulk.announce("saving the project file")  # the transaction's commit, when the caller's block ends
        return counts

    if isinstance(target, ProjectFile) and rebuilds(base):
        # a large load rebuilds a copy of the file, its tables' pages written directly, which then replaces
        # the file's content in one transaction (ProjectFile.rebuilt); the copy and the side process's files go
        # in a scratch folder, removed after
        with target.connection() as conn:
            clear = bool(existing(conn))
        try:
            with _scratch() as side:
                with target.rebuilt(Path(side) / REBUILT_FILE, saving=bulk.phase(
                        "copy the rebuilt file into the project file", "saving the project file")) as copy:
                    counts = rebuild_base(copy, base, Path(side), clear=clear)
        except OSError as e:  # the scratch files (the project file's own errors come through SQLite)
            raise AudienceError(f"the load's scratch files in {tempfile.gettempdir()} could not be written: "
                                f"{os_reason(e)}; the project file was not changed (TMPDIR names a folder with room "
                                "for about twice the project file)") from None
        with target.connection() as conn:
            unwatch(conn)  # (the file changed under this connection: nothing cached is kept)
    elif isinstance(target, ProjectFile):
        # the rows are consistent by construction (every id they refer to is written with them, into tables
        # emptied first), so the load skips the per-row foreign key lookups
        _sweep()
        with target.bulk_connection() as conn:
            counts = run(conn)
    elif target.in_transaction():
        counts = run(target)  # the caller's transaction: its commit is the caller's
    else:
        with target.begin():
            counts = run(target)
    contacts, n_accounts, subscriptions, interactions = counts
    # the time the user waited includes the commit (writing out the pages still in the cache, and the sync)
    return PopulationReport(contacts, n_accounts, interactions, subscriptions, seed,
                            as_of or datetime.now(timezone.utc).date(), locales, time.perf_counter() - started)


REBUILT_FILE = "project.db"  # the copy a large load rebuilds, in its scratch folder
SCRATCH_PREFIX = "jstudio-load-"


def _scratch() -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for a load, named after this process (those of loaders that are gone are removed
    first)."""
    _sweep()
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def _sweep() -> None:
    """Remove the scratch folders of loaders that are gone (killed mid-load)."""
    if os.name == "posix":  # signal 0 only asks whether the process exists there
        for old in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
            pid = old.name[len(SCRATCH_PREFIX):].split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    shutil.rmtree(old, ignore_errors=True)
                except OSError:
                    pass


__all__ = ["DEFAULT_LISTS", "PopulationReport", "generate", "write_population"]
