"""Access to a run's tracking endpoint: its events secret and local address, kept in the run's state.

`journey-studio run` makes the secret at the run's first start (256 random bits), prints it once, and keeps it in
`runner.db`, which only its owner can read (state.py). `POST /events` needs it as `Authorization: Bearer SECRET`,
and `GET /status` too unless the run was started with `--public-status` (tracking.py). Commands on the same
machine (`journey-studio event`) read the secret and the endpoint's address from the state: whoever can read the
run's state may post its events, nobody else.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runner.runnable import RunnerError
from app.runner.state import StateDb
from app.runner.state_read import SECRET_SETTING, URL_SETTING

__all__ = ["SECRET_SETTING", "URL_SETTING", "Endpoint", "endpoint", "events_secret", "local_url"]


def events_secret(state: StateDb, given: str | None = None) -> tuple[str, bool]:
    """The run's events secret, and whether it was made just now (to be shown once): the one given, else the one
    the run keeps, else a new one."""
    if given:
        state.put(SECRET_SETTING, given)
        return given, False
    made = secrets.token_urlsafe(32)
    kept = str(state.setdefault(SECRET_SETTING, made))
    return kept, kept == made


def local_url(host: str, port: int) -> str:
    """The address a command on this machine reaches an endpoint listening on host:port at."""
    host = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class Endpoint:
    """A running run's endpoint, as its owner reaches it."""

    url: str
    secret: str

    def call(self, method: str, path: str, doc: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        """Send a request with the secret: (HTTP status, the JSON answer). RunnerError when nothing answers."""
        body = None if doc is None else json.dumps(doc).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.secret}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:  # noqa: S310 - the run's own address
                return int(answer.status), json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return int(e.code), json.loads(raw or b"null")
            except ValueError:
                return int(e.code), {"error": raw.decode("utf-8", "replace").strip()}
        except (urllib.error.URLError, OSError) as e:
            raise RunnerError(f"no runner answers at {self.url} ({getattr(e, 'reason', e)}): is journey-studio run "
                              "running?") from None


def endpoint(state_dir: Path) -> Endpoint:
    """The endpoint of the run whose state is in `state_dir`, with its secret."""
    db = Path(state_dir) / "runner.db"
    if not db.exists():
        raise RunnerError(f"{state_dir}: no run of this package here (start one with journey-studio run, or give "
                          "--state-dir)")
    try:
        state = StateDb(db)
    except PermissionError:
        raise RunnerError(f"{db}: only the run's owner may read its state (and its events secret)") from None
    try:
        url, secret = state.get(URL_SETTING), state.get(SECRET_SETTING)
    finally:
        state.close()
    if not url or not secret:
        raise RunnerError(f"{state_dir}: this run has no events endpoint yet (start it with journey-studio run)")
    return Endpoint(str(url), str(secret))
