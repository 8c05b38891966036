"""A sweep's points on an existing dask.distributed cluster (`journey-studio sweep --dask ADDRESS`).

dask and distributed are optional (`pip install 'journey-studio[cluster]'`) and imported only here, when a sweep
asks for a cluster. Each point is the same pure function as in a worker process (`sweep.run_point`), sent with
its inputs as plain data and its counts sent back as NumPy arrays, so the sweep's JSON is the same as a serial
run's, bit for bit. The cluster's workers need journey-studio installed, in the same version.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from simulator.request import RunError
from simulator.sweep import PointTask, SweepError, run_point

if TYPE_CHECKING:
    from simulator.engine import CancelToken

CONNECT_TIMEOUT_S = 10
INSTALL = "pip install 'journey-studio[cluster]'"


def _said(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def connect(address: str, timeout: float | None = None) -> Any:
    """A `distributed.Client` of the scheduler at `address`; SweepError in one line when distributed is missing
    or the scheduler does not answer within `timeout` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise SweepError(f"--dask needs dask.distributed, which is not installed: {INSTALL}") from None
    if not address or len(address) > 300 or "\0" in address or any(c.isspace() for c in address):
        raise SweepError(f"--dask {address[:60]!r}: give the scheduler's address, e.g. tcp://10.0.0.5:8786")
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    _probe(address, timeout)
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as e:  # it answered the probe a moment ago: one line all the same
        raise SweepError(f"--dask {address}: the dask scheduler did not take a client ({_said(e)})") from None


def _probe(address: str, timeout: float) -> None:
    """Open and close one connection to the scheduler (a Client that cannot connect leaves a half-made object
    whose clean-up waits 20 s more and prints a traceback at exit)."""
    import asyncio

    from distributed.comm import connect as comm_connect

    async def probe() -> None:
        comm = await comm_connect(address, timeout=timeout)
        await comm.close()
    try:
        asyncio.run(probe())
    except ValueError as e:  # an address it cannot read: the scheme, the port
        raise SweepError(f"--dask {address}: not a scheduler's address, e.g. tcp://10.0.0.5:8786 ({_said(e)})"
                         ) from None
    except (OSError, asyncio.TimeoutError) as e:
        raise SweepError(f"--dask {address}: no dask scheduler answered within {timeout:g} s ({_said(e)})"
                         ) from None
    except Exception:  # e.g. a MemoryError from reading another server's bytes as a frame's length
        raise SweepError(f"--dask {address}: what answers there is not a dask scheduler") from None


def run_on_cluster(tasks: Sequence[PointTask], address: str, progress: Callable[[int, int], None] | None = None,
                   cancel: CancelToken | None = None) -> list[list[dict[str, np.ndarray]]]:
    """Every task's samples, in order, computed on the cluster at `address` (see `sweep.run_points`); a cancel
    cancels the points still on the cluster; the client is closed on the way out."""
    from simulator.engine import Cancelled
    client = connect(address)
    futures: list[Any] = []
    try:
        futures = client.map(run_point, list(tasks), pure=False, key=[f"sweep-point-{i}-{time.time_ns()}"
                                                                      for i in range(len(tasks))])
        done = 0
        while done < len(futures):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the sweep was cancelled")
            if any(f.status == "error" for f in futures):
                break  # gather raises the point's own error
            now = sum(f.done() for f in futures)
            if now != done:
                done = now
                if progress is not None:
                    progress(done, len(futures))
            else:
                time.sleep(0.05)
        try:
            results: list[list[dict[str, np.ndarray]]] = client.gather(futures)
        except (RunError, SweepError):
            raise  # a point's own refusal, as a serial run says it
        except Exception as e:  # a worker lost (KilledWorker), a worker without journey-studio...: one line
            raise SweepError(f"--dask {address}: the cluster could not run a point ({type(e).__name__}: "
                             f"{_said(e)})") from None
        return results
    finally:
        try:
            if futures:
                client.cancel(futures)
        finally:
            client.close()
