"""A customer base is drawn and evaluated without SQLAlchemy: the SQL that reads and writes one is in
app.audience.base_store, so the simulator's start-up does not pay for it."""

from __future__ import annotations

import json
import subprocess
import sys

NO_SQL = ("app.audience.base", "app.audience.synthetic", "app.audience.evaluate", "app.audience.timesets")


def test_drawing_and_evaluating_a_base_imports_no_sqlalchemy() -> None:
    code = (f"import json, sys\nfor m in {NO_SQL!r}:\n    __import__(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "alembic")}
    assert not {m for m in modules if m.startswith("app.store")}


def test_the_store_side_reads_and_writes_the_same_columns() -> None:
    from app.audience import base, base_store

    assert base_store.CONTACT_COLUMNS is base.CONTACT_COLUMNS
    assert base_store.NUMBER_COLUMNS is base.NUMBER_COLUMNS
