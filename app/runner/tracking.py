"""The runner's HTTP endpoint: opens, clicks and contact events in, signals to the contacts' workflows out.

Routes (a small HTTP/1.1 server on asyncio streams; one request per connection):

- `GET /o/TOKEN` the open pixel (a 1x1 GIF); `GET /c/TOKEN` a tracked link (a redirect when the link is a web
  address, else a short page); `GET /u/TOKEN` unsubscribe. Tokens are signed (channels.Tokens).
- `POST /events` JSON {"contact": 12, "event": "purchase"} (a contact event: goal and exit events), or with
  "step": "announce" (and "link": "shop" for a click on a named link) for a message event (opened, clicked, delivered, bounced, hard_bounced: the address is dead,
  unsubscribed: from that message's channel only; "unsubscribed" without a step stops every channel); a list of
  these is accepted.
  The event goes to the contact's workflow of the current iteration (its account's, when the journey targets
  accounts). Answers 202 with {"queued": n}; 400 (and
  nothing queued) when any event is wrong.
- `GET /status` the live per-step counts as JSON (status.py); `GET /health` "ok".

Each event is stamped with the simulated time at which it arrived (the run's clock) and written to the
outbox of the runner's state database before the answer goes out; a delivery task signals the workflows from
there, and keeps the events while Temporal cannot be reached, so an event is not lost to an outage or to a
runner stopped just after it answered. An event for a workflow that has finished is dropped (`not_running`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from app.model.attributes import CONTACT_EVENTS
from app.runner.calls import Event, contact_workflow_id
from app.runner.channels import Tokens, link_target
from app.runner.clock import Clock
from app.runner.runnable import Runnable
from app.runner.state import StateDb
from app.semantics.plan import LINK_CLICK, MESSAGE_EVENT_NAMES, STEP_EVENTS

PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
         b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
MESSAGE_EVENTS = tuple(MESSAGE_EVENT_NAMES)  # the events a message reports (app/semantics/plan.py)
MAX_BODY = 1 << 20
KINDS = {"o": "opened", "c": "clicked", "u": "unsubscribed"}


@dataclass
class Response:
    """An HTTP response to write."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, value: Any) -> Response:
    return Response(status, json.dumps(value).encode("utf-8"), "application/json")


def _page(status: int, text: str) -> Response:
    return Response(status, f"<!doctype html><title>Journey Studio</title><p>{escape(text)}</p>".encode(),
                    "text/html; charset=utf-8")


REASONS = {200: "OK", 202: "Accepted", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


class TrackingServer:
    """Receives events over HTTP and signals the workflows they belong to."""

    def __init__(self, client: Client, runnable: Runnable, clock: Clock, tokens: Tokens, state: StateDb,
                 status: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.client, self.runnable, self.clock, self.tokens, self.state = client, runnable, clock, tokens, state
        self.status = status
        self.server: asyncio.Server | None = None
        self.wake = asyncio.Event()
        self.delivery: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port) and deliver queued events; the port listened on."""
        self.server = await asyncio.start_server(self._connection, host, port)
        self.delivery = asyncio.create_task(self._deliver())
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and delivering (undelivered events stay queued for the next start)."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        if self.delivery is not None:
            self.delivery.cancel()
            try:
                await self.delivery
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self.delivery = None

    # --- HTTP ----------------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response = await self._request(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            response = Response(400, b"bad request\n")
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the endpoint
            response = Response(500, f"{type(e).__name__}: {e}\n".encode())
        head = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}",
                f"Content-Type: {response.content_type}", f"Content-Length: {len(response.body)}",
                "Cache-Control: no-store", "Connection: close", *(f"{k}: {v}" for k, v in response.headers)]
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def _request(self, reader: asyncio.StreamReader) -> Response:
        line = (await asyncio.wait_for(reader.readline(), 30)).decode("latin-1").strip()
        parts = line.split(" ")
        if len(parts) != 3:
            return Response(400, b"bad request line\n")
        method, target, _ = parts
        length = 0
        while True:
            h = (await asyncio.wait_for(reader.readline(), 30)).decode("latin-1").strip()
            if not h:
                break
            name, _, value = h.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > MAX_BODY:
            return Response(413, b"too large\n")
        body = await asyncio.wait_for(reader.readexactly(length), 30) if length else b""
        path = urlsplit(target).path
        return await self.handle(method, path, body)

    async def handle(self, method: str, path: str, body: bytes) -> Response:
        """Answer one request."""
        if path == "/health":
            return Response(200, b"ok\n")
        if path == "/status" and method == "GET":
            if self.status is None:
                return Response(404, b"no status here\n")
            try:
                return _json(200, await self.status())
            except RPCError as e:
                return _json(503, {"error": f"Temporal: {e.message}"})
        if path == "/events":
            if method != "POST":
                return Response(405, b"POST events here\n")
            return await self._events(body)
        kind, _, token = path.lstrip("/").partition("/")
        if kind in KINDS and method == "GET":
            return await self._tracked(kind, token)
        return Response(404, b"not found\n")

    # --- events --------------------------------------------------------------------------------------------

    def now(self) -> int:
        """The simulated moment now."""
        return self.clock.sim(time.time())

    async def queue(self, items: list[tuple[str, Event]]) -> None:
        """Keep events in the outbox (committed before the HTTP answer) and wake the delivery."""
        await asyncio.to_thread(self.state.queue_events, [(w, asdict(e)) for w, e in items])
        self.wake.set()

    async def signal(self, workflow_id: str, event: Event) -> bool:
        """Send an event to a workflow; False when it is not running (finished, or never started)."""
        try:
            await self.client.get_workflow_handle(workflow_id).signal("event", event)
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False
            raise
        return True

    async def _deliver(self) -> None:
        """Signal queued events to their workflows, oldest first; wait and retry while Temporal is away."""
        backoff = 0.2
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            while True:
                batch = await asyncio.to_thread(self.state.pending_events)
                if not batch:
                    break
                settled: list[tuple[int, str]] = []
                try:
                    for i, wid, ev in batch:
                        ok = await self.signal(wid, Event(**ev))
                        settled.append((i, "delivered" if ok else "not_running"))
                except RPCError:
                    await asyncio.to_thread(self.state.settle_events, settled)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    break
                backoff = 0.2
                await asyncio.to_thread(self.state.settle_events, settled)

    async def _tracked(self, kind: str, token: str) -> Response:
        t = self.tokens.read(token)
        if t is None or t.kind != kind:
            return _page(404, "This link is not valid.")
        now = self.now()
        events = [(t.workflow_id, Event(KINDS[kind], now, t.step_id, t.contact))]
        if kind == "c" and t.link:  # which link: an if/then may name it (seed 000)
            events.append((t.workflow_id, Event(f"{LINK_CLICK}{t.link}", now, t.step_id, t.contact)))
        await self.queue(events)
        if kind == "o":
            return Response(200, PIXEL, "image/gif")
        if kind == "u":
            return _page(200, "You are unsubscribed: you will get no more messages of this kind.")
        target = link_target(t.link)
        if target:
            return Response(302, b"", headers=(("Location", target),))
        return _page(200, f"Thank you for your interest ({t.link}).")

    def iteration_at(self, t: int) -> int:
        """The iteration running at simulated moment `t` (the last one begun)."""
        its = self.runnable.plan.iterations
        return max([k for k, (begin, _) in enumerate(its) if begin <= t] or [0])

    async def workflow_of(self, contact: int, iteration: int) -> str:
        """The workflow a contact's events go to: its own, or (a journey that targets accounts) its account's."""
        if self.runnable.plan.accounts:
            found = await asyncio.to_thread(self.state.workflow_of, self.runnable.key, iteration, contact)
            if found is not None:
                return found
        return contact_workflow_id(self.runnable.key, contact, iteration)

    async def _events(self, body: bytes) -> Response:
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            return _json(400, {"error": "the body is not JSON"})
        items = doc if isinstance(doc, list) else [doc]
        events: list[tuple[str, Event]] = []
        now = self.now()
        k = self.iteration_at(now)
        for i, item in enumerate(items):
            problem = self._check(item)
            if problem:
                return _json(400, {"error": f"event {i}: {problem}"})
            step = str(item.get("step") or "")
            contact = int(item["contact"])
            wid = await self.workflow_of(contact, k)
            events.append((wid, Event(str(item["event"]), now, step, contact)))
            if item.get("link"):  # a click on a named link: also the event an if/then on that link waits for
                events.append((wid, Event(f"{LINK_CLICK}{item['link']}", now, step, contact)))
        await self.queue(events)
        return _json(202, {"queued": len(events)})

    def _check(self, item: Any) -> str | None:
        if not isinstance(item, dict):
            return "an event is an object with contact and event"
        c, name, step, link = item.get("contact"), item.get("event"), item.get("step"), item.get("link")
        if link is not None and (not isinstance(link, str) or not 0 < len(link) <= 200 or "\x00" in link):
            return "link must be a link's name (1 to 200 characters)"
        if link is not None and name not in ("clicked", "link_clicked"):
            return f"a link is named, but '{name}' is no click (use link_clicked)"
        if isinstance(c, bool) or not isinstance(c, int):
            return "contact must be a contact id (a whole number)"
        if not isinstance(name, str) or not name:
            return "event must be a name, e.g. purchase or clicked"
        if step is not None:
            if name not in STEP_EVENTS:
                return f"'{name}' is no message event ({', '.join(STEP_EVENTS)})"
            try:
                self.runnable.step(str(step))
            except KeyError:
                return f"the journey has no step '{step}'"
        elif name in MESSAGE_EVENTS:
            return f"a message event ('{name}') needs the step of the message"
        elif name not in CONTACT_EVENTS and name not in self.runnable.plan.events:
            return f"unknown contact event '{name}' (known: {', '.join(CONTACT_EVENTS)})"
        return None
