"""A past campaign's file, read and checked for calibration (pure: no Qt, no click).

One row per contact: the arm column, 0/1 outcome columns (and optionally opened / clicked), attribute columns
to group by. Every problem is one line naming the file, the line and the column (`CampaignError`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.errors import JourneyStudioError
from app.model.attributes import CONSENT_LEVELS, CONTACT_EVENTS, LOYALTY_TIERS

MAX_BYTES = 512 * 1024 * 1024
MAX_ROWS = 5_000_000
MAX_CELL = 10_000
MAX_VALUES = 100  # distinct values of an arm or a --by column
MAX_BY = 4
MIN_ROWS = 50
MAX_DAYS = 365
MAX_REPLICAS = 100
CHANNELS = ("email", "sms", "push")
UNSUPPORTED_BY = ("time_zone",)
BUILT_IN_LEVELS = {"loyalty_tier": LOYALTY_TIERS, "consent_level": CONSENT_LEVELS}  # --by columns the simulator has


class CampaignError(JourneyStudioError):
    """Bad input: one line naming the file, line and column where it can."""


@dataclass(frozen=True)
class CalibrateSpec:
    """What to read and fit. `outcomes`: (event name, column); the messages convert to `conversion` (default:
    the first outcome)."""

    arm: str
    control: str
    outcomes: tuple[tuple[str, str], ...]
    days: int
    by: tuple[str, ...] = ()
    holdout: float = 0.3
    seed: int = 0
    opened: str | None = None
    clicked: str | None = None
    conversion: str | None = None
    channel: str = "email"
    replicas: int = 20

    @property
    def conversion_outcome(self) -> str:
        return self.conversion or self.outcomes[0][0]

    def check(self) -> None:
        """CampaignError for settings no file can satisfy."""
        if not self.outcomes:
            raise CampaignError("give at least one --outcome NAME=COLUMN")
        names = [n for n, _ in self.outcomes]
        for name in names:
            if name not in CONTACT_EVENTS:
                raise CampaignError(f"--outcome {name}: an outcome is a contact event the simulator knows "
                                    f"({', '.join(CONTACT_EVENTS)})")
        if len(set(names)) != len(names):
            raise CampaignError("each --outcome names a different event")
        if self.conversion_outcome not in names:
            raise CampaignError(f"--conversion {self.conversion}: not one of the outcomes ({', '.join(names)})")
        if not 0.0 < self.holdout < 1.0:
            raise CampaignError(f"--holdout is a share strictly between 0 and 1, not {self.holdout}")
        if not 1 <= self.days <= MAX_DAYS:
            raise CampaignError(f"--days goes from 1 to {MAX_DAYS}, not {self.days}")
        if not 0 <= self.seed < 2 ** 63:
            raise CampaignError(f"--seed is a whole number from 0 to {2 ** 63 - 1}")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise CampaignError(f"--replicas goes from 1 to {MAX_REPLICAS}, not {self.replicas}")
        if (self.opened is None) != (self.clicked is None):
            raise CampaignError("give both --opened and --clicked, or neither")
        if self.channel not in CHANNELS:
            raise CampaignError(f"--channel is one of {', '.join(CHANNELS)}")
        if len(self.by) > MAX_BY or len(set(self.by)) != len(self.by):
            raise CampaignError(f"--by names up to {MAX_BY} different columns")
        for col in self.by:
            if col in UNSUPPORTED_BY:
                raise CampaignError(f"--by {col}: grouping by time zone is not supported (the simulator reads it "
                                    "for send times); copy it to a column of another name")
        if self.arm in self.by:
            raise CampaignError(f"--by {self.arm}: that is the arm column")


@dataclass
class Campaign:
    """The file's rows as columns: arm codes (arms in order of first appearance), --by codes per column
    (values sorted), outcomes as 0/1 arrays."""

    path: str
    arms: tuple[str, ...]
    arm: np.ndarray
    by: tuple[str, ...]
    by_values: dict[str, tuple[str, ...]]
    by_codes: dict[str, np.ndarray]
    outcomes: dict[str, np.ndarray]
    opened: np.ndarray | None = None
    clicked: np.ndarray | None = None
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # each row's line in the file

    @property
    def n(self) -> int:
        return len(self.arm)

    def split(self, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The fitted rows and the held-out rows (sorted), a random split from `seed`."""
        rng = np.random.default_rng([seed, 3])
        order = rng.permutation(self.n)
        k = int(round(holdout * self.n))
        return np.sort(order[k:]), np.sort(order[:k])


def _lines(f: io.TextIOBase, path: str) -> Iterator[str]:
    for number, line in enumerate(f, 1):
        if "\x00" in line:
            raise CampaignError(f"{path}:{number}: the file holds a NUL character (not a CSV text file?)")
        yield line


def read_campaign(path: str | Path, spec: CalibrateSpec) -> Campaign:
    """Read and check the file; CampaignError (one line: file, line, column) on anything wrong."""
    spec.check()
    p = str(path)
    try:
        size = os.stat(p).st_size
        if not Path(p).is_file():
            raise CampaignError(f"{p}: not a regular file")
    except OSError as e:
        raise CampaignError(f"{p}: cannot read the file: {e.strerror or e}") from None
    if size > MAX_BYTES:
        raise CampaignError(f"{p}: the file is {size / 2 ** 20:,.0f} MB; calibrate reads up to "
                            f"{MAX_BYTES // 2 ** 20} MB (take a random sample of the rows)")
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            return _read(f, p, spec)
    except UnicodeDecodeError as e:
        raise CampaignError(f"{p}: not UTF-8 text (byte {e.start}): save the file as UTF-8 CSV") from None
    except OSError as e:
        raise CampaignError(f"{p}: cannot read the file: {e.strerror or e}") from None


def _read(f: io.TextIOBase, p: str, spec: CalibrateSpec) -> Campaign:
    reader = csv.reader(_lines(f, p))
    try:
        header = next(reader)
    except StopIteration:
        raise CampaignError(f"{p}:1: the file is empty (expected a header line)") from None
    except csv.Error as e:
        raise CampaignError(f"{p}:{reader.line_num}: {e}") from None
    header = [h.strip() for h in header]
    index = {h: i for i, h in enumerate(header)}
    wanted = [("--arm", spec.arm)] + [(f"--outcome {n}", col) for n, col in spec.outcomes] + \
        [("--by", col) for col in spec.by] + \
        [(opt, col) for opt, col in (("--opened", spec.opened), ("--clicked", spec.clicked)) if col]
    for opt, col in wanted:
        if col not in index:
            shown = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
            raise CampaignError(f"{p}:1: no column '{col}' ({opt}); the columns are: {shown}")
    binary = [(n, index[col], col) for n, col in spec.outcomes]
    if spec.opened and spec.clicked:
        binary += [("\x00opened", index[spec.opened], spec.opened), ("\x00clicked", index[spec.clicked], spec.clicked)]
    arm_i = index[spec.arm]
    by_i = [index[col] for col in spec.by]
    arms: dict[str, int] = {}
    by_maps: list[dict[str, int]] = [{} for _ in spec.by]
    arm_codes: list[int] = []
    by_raw: list[list[int]] = [[] for _ in spec.by]
    bits: list[bytearray] = [bytearray() for _ in binary]
    lines: list[int] = []
    width = len(header)
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                raise CampaignError(f"{p}:{line}: {len(row)} fields where the header has {width}")
            if len(lines) >= MAX_ROWS:
                raise CampaignError(f"{p}:{line}: more than {MAX_ROWS:,} rows; take a random sample of the rows")
            arm_text = row[arm_i].strip()
            if not arm_text:
                raise CampaignError(f"{p}:{line}: column '{spec.arm}': no arm given")
            if len(arm_text) > MAX_CELL:
                raise CampaignError(f"{p}:{line}: column '{spec.arm}': the value is longer than {MAX_CELL} characters")
            code = arms.get(arm_text)
            if code is None:
                if len(arms) >= MAX_VALUES:
                    raise CampaignError(f"{p}:{line}: column '{spec.arm}': more than {MAX_VALUES} arms")
                code = arms[arm_text] = len(arms)
            arm_codes.append(code)
            for j, i in enumerate(by_i):
                value = row[i].strip()
                if len(value) > MAX_CELL:
                    raise CampaignError(f"{p}:{line}: column '{spec.by[j]}': the value is longer than "
                                        f"{MAX_CELL} characters")
                m = by_maps[j]
                c = m.get(value)
                if c is None:
                    if len(m) >= MAX_VALUES:
                        raise CampaignError(f"{p}:{line}: column '{spec.by[j]}': more than {MAX_VALUES} different "
                                            "values: group by a column with fewer (bands, tiers...)")
                    c = m[value] = len(m)
                by_raw[j].append(c)
            for k, (_, i, col) in enumerate(binary):
                v = row[i].strip()
                if v == "1":
                    bits[k].append(1)
                elif v == "0":
                    bits[k].append(0)
                else:
                    shown = repr(v[:40]) + ("..." if len(v) > 40 else "")
                    raise CampaignError(f"{p}:{line}: column '{col}': an outcome is 0 or 1, not {shown}")
            lines.append(line)
    except csv.Error as e:
        raise CampaignError(f"{p}:{reader.line_num}: {e}") from None
    n = len(lines)
    if n < MIN_ROWS:
        raise CampaignError(f"{p}: {n} rows of contacts; calibrate needs at least {MIN_ROWS} (better thousands)")
    if spec.control not in arms:
        shown = ", ".join(repr(a) for a in list(arms)[:10])
        raise CampaignError(f"{p}: column '{spec.arm}': no row has the control value {spec.control!r} "
                            f"(arms: {shown})")
    if len(arms) < 2:
        raise CampaignError(f"{p}: column '{spec.arm}': every row is in the control arm: nothing was sent to "
                            "compare with")
    names = [a for a in arms if a != spec.control]
    order = [spec.control, *names]  # the control first, then the arms as they appear
    remap = np.array([order.index(a) for a in arms], dtype=np.int16)
    arm = remap[np.asarray(arm_codes, dtype=np.int64)]
    by_values: dict[str, tuple[str, ...]] = {}
    by_codes: dict[str, np.ndarray] = {}
    for j, col in enumerate(spec.by):
        levels = BUILT_IN_LEVELS.get(col)
        odd = [v for v in by_maps[j] if levels is not None and v not in levels]
        if odd:
            first = int(np.flatnonzero(np.asarray(by_raw[j]) == by_maps[j][odd[0]])[0])
            raise CampaignError(f"{p}:{lines[first]}: column '{col}': {odd[0]!r} is not a {col.replace('_', ' ')} "
                                f"({', '.join(levels or ())}); to group by the column as it is, give it another name")
        values = sorted(by_maps[j])
        pos = {v: k for k, v in enumerate(values)}
        table = np.array([pos[v] for v in by_maps[j]], dtype=np.int32)
        by_values[col] = tuple(values)
        by_codes[col] = table[np.asarray(by_raw[j], dtype=np.int64)]
    arrays = {name: np.frombuffer(bytes(b), dtype=np.uint8) for (name, _, _), b in zip(binary, bits)}
    opened, clicked = arrays.pop("\x00opened", None), arrays.pop("\x00clicked", None)
    line_arr = np.asarray(lines, dtype=np.int64)
    if clicked is not None and opened is not None:
        bad = np.flatnonzero((clicked == 1) & (opened == 0))
        if bad.size:
            raise CampaignError(f"{p}:{line_arr[bad[0]]}: column '{spec.clicked}': clicked without being opened "
                                f"(column '{spec.opened}' is 0)")
    campaign = Campaign(p, tuple(order), arm, tuple(spec.by), by_values, by_codes, arrays, opened, clicked, line_arr)
    train, held = campaign.split(spec.holdout, spec.seed)
    for a, name in enumerate(order):
        for part, rows in (("fitted", train), ("held-out", held)):
            if not np.any(arm[rows] == a):
                raise CampaignError(f"{p}: column '{spec.arm}': arm {name!r} has no rows in the {part} share "
                                    f"({int(np.sum(arm == a))} rows in all): too few to calibrate")
    return campaign


__all__ = ["CalibrateSpec", "Campaign", "CampaignError", "read_campaign"]
