"""The runner's HTTP endpoint: opens, clicks and contact events in, signals to the contacts' workflows out.

Routes (a small HTTP/1.1 server on asyncio streams; one request per connection):

- `GET /o/TOKEN` the open pixel (a 1x1 GIF); `GET /c/TOKEN` a tracked link (a redirect when the link is a web
  address, else a short page); `GET /u/TOKEN` unsubscribe. Tokens are signed (channels.Tokens): anyone holding a
  message's link may report its open, click or unsubscribe, and nothing else.
- `POST /events` JSON {"contact": 12, "event": "purchase"} (a contact event: goal and exit events), or with
  "step": "announce" (and "link": "shop" for a click on a named link) for a message event (opened, clicked,
  delivered, bounced, hard_bounced: the address is dead, unsubscribed: from that message's channel only;
  "unsubscribed" without a step stops every channel); a list of these is accepted. It needs the run's events
  secret: `Authorization: Bearer SECRET` (`journey-studio run` makes it and prints it once; it is kept in the run's
  state file, readable by its owner only, where `journey-studio event` finds it). The event goes to the
  contact's workflow of the current iteration (its account's, when the journey targets accounts). Answers 202
  with {"queued": n}; 400 (and nothing queued) when any event is wrong; 404 (nothing queued) when a contact has
  no workflow in the run (never entered, or not this iteration): those events are kept as dead letters.
- `GET /status` the live per-step counts as JSON (status.py): it names the journey, so it needs the secret too,
  unless the run was started with `--public-status`. `GET /health` "ok".

Hostile requests get a 4xx and a one-line JSON body {"error": ...}: a missing or wrong secret (401), a body
above MAX_BODY (413), JSON nested deeper than MAX_DEPTH, more than MAX_EVENTS events (400), a request line or
headers too long or too many (431), more than RATE requests a second on average (BURST at once) from one address
to `/events` or `/status` (429).

Each event is stamped with the simulated time at which it arrived (the run's clock) and written to the
outbox of the runner's state database before the answer goes out; a delivery task signals the workflows from
there, and keeps the events while Temporal cannot be reached, so an event is not lost to an outage or to a
runner stopped just after it answered. An event for a workflow that has finished is dropped (`not_running`).
Events name a unit (the id its own workflow would have, as tokens and the enrolments table do); a unit that runs
in a cohort's workflow (cohort.py) gets its events through the cohort, with its id in the event.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from app.model.attributes import CONTACT_EVENTS
from app.runner.calls import Event
from app.runner.channels import Tokens, link_target
from app.runner.clock import Clock
from app.runner.runnable import Runnable
from app.runner.state import StateDb
from app.semantics.plan import LINK_CLICK, MESSAGE_EVENT_NAMES, STEP_EVENTS

PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
         b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
MESSAGE_EVENTS = tuple(MESSAGE_EVENT_NAMES)  # the events a message reports (app/semantics/plan.py)
KINDS = {"o": "opened", "c": "clicked", "u": "unsubscribed"}
MAX_BODY = 64 * 1024  # bytes of an events request
MAX_EVENTS = 500  # events in one request
MAX_DEPTH = 4  # JSON nesting: a list of events of plain values is 2 deep
MAX_LINE = 8 * 1024  # bytes of the request line or of one header
MAX_HEADERS = 64
READ_TIMEOUT = 30.0  # seconds to read one request
RATE, BURST = 20.0, 100.0  # /events and /status: requests a second from one address on average, and at once
log = logging.getLogger(__name__)


@dataclass
class Response:
    """An HTTP response to write."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(value).encode("utf-8"), "application/json", headers)


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = (), **more: Any) -> Response:
    """A refusal: one line of JSON saying why."""
    return _json(status, {"error": message, **more}, headers)


class _Refused(Exception):
    """A request refused while it is read."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def json_depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (a scalar: 0, [1]: 1, [{"a": 1}]: 2)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            todo.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


class RateLimit:
    """A token bucket per client address: `rate` requests a second on average, `burst` at once."""

    def __init__(self, rate: float = RATE, burst: float = BURST, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens left, when)

    def allow(self, who: str) -> bool:
        """Take a token for a request from `who`; False when there is none left."""
        now = self.clock()
        tokens, when = self.buckets.get(who, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - when) * self.rate)
        if len(self.buckets) > 10_000:  # very many addresses: forget them rather than grow without end
            self.buckets.clear()
        self.buckets[who] = (tokens - 1 if tokens >= 1 else tokens, now)
        return tokens >= 1


def _page(status: int, text: str) -> Response:
    return Response(status, f"<!doctype html><title>Journey Studio</title><p>{escape(text)}</p>".encode(),
                    "text/html; charset=utf-8")


REASONS = {200: "OK", 202: "Accepted", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}
NEEDS_SECRET = ("needs the run's events secret: 'Authorization: Bearer SECRET' (journey-studio run printed it; "
                "journey-studio event finds it in the run's state)")


class TrackingServer:
    """Receives events over HTTP and signals the workflows they belong to."""

    def __init__(self, client: Client, runnable: Runnable, clock: Clock, tokens: Tokens, state: StateDb,
                 status: Callable[[], Awaitable[dict[str, Any]]] | None = None, *, secret: str | None = None,
                 public_status: bool = False, limit: RateLimit | None = None) -> None:
        """`secret`: what `POST /events` (and `GET /status`, unless `public_status`) must present as a bearer
        token; None only for a server of a test's own, called in-process (the runner always gives one)."""
        self.client, self.runnable, self.clock, self.tokens, self.state = client, runnable, clock, tokens, state
        self.status = status
        self.secret = secret.encode("utf-8") if secret is not None else None
        self.public_status = public_status
        self.limit = limit or RateLimit()
        self.server: asyncio.Server | None = None
        self.wake = asyncio.Event()
        self.delivery: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port) and deliver queued events; the port listened on."""
        self.server = await asyncio.start_server(self._connection, host, port, limit=MAX_LINE)
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
        peer = writer.get_extra_info("peername")
        who = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        try:
            method, path, headers, body = await asyncio.wait_for(self._read(reader), READ_TIMEOUT)
            response = await self.handle(method, path, body, headers, who)
        except _Refused as e:
            response = _error(e.status, e.message)
        except asyncio.TimeoutError:
            response = _error(408, f"the request did not come whole within {READ_TIMEOUT:g} s")
        except (asyncio.IncompleteReadError, ConnectionError):
            response = _error(400, "the request was cut short")
        except Exception:  # noqa: BLE001 - one bad request must not stop the endpoint
            log.exception("tracking endpoint: a request failed")
            response = _error(500, "the runner could not answer this request (see its log)")
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

    @staticmethod
    async def _line(reader: asyncio.StreamReader) -> str:
        try:
            return (await reader.readline()).decode("latin-1").strip()
        except ValueError:  # longer than the stream's limit
            raise _Refused(431, f"a request line or header is longer than {MAX_LINE} bytes") from None

    async def _read(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
        """One request: method, path, headers (names in lower case) and body, within the limits."""
        parts = (await self._line(reader)).split(" ")
        if len(parts) != 3:
            raise _Refused(400, "bad request line")
        method, target, _ = parts
        headers: dict[str, str] = {}
        for n in range(MAX_HEADERS + 1):
            h = await self._line(reader)
            if not h:
                break
            if n == MAX_HEADERS:
                raise _Refused(431, f"more than {MAX_HEADERS} headers")
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _Refused(400, "send the body with a Content-Length, not chunked")
        text = headers.get("content-length", "0") or "0"
        if not (text.isascii() and text.isdigit()):
            raise _Refused(400, "Content-Length must be a number of bytes")
        length = int(text)
        if length > MAX_BODY:
            raise _Refused(413, f"the body is larger than {MAX_BODY} bytes")
        body = await reader.readexactly(length) if length else b""
        return method, urlsplit(target).path, headers, body

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """Whether the request presents the run's events secret (as `Authorization: Bearer SECRET`)."""
        if self.secret is None:
            return True
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("utf-8"), self.secret)

    async def handle(self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None,
                     peer: str = "") -> Response:
        """Answer one request (`peer`: the client's address, for the rate limit)."""
        headers = headers or {}
        if path == "/health":
            return Response(200, b"ok\n")
        if path in ("/status", "/events"):
            if not self.limit.allow(peer):
                return _error(429, f"too many requests (at most {RATE:g} a second)", (("Retry-After", "1"),))
            if path == "/status" and method != "GET" or path == "/events" and method != "POST":
                return _error(405, f"{'GET' if path == '/status' else 'POST'} {path} only")
            needs = path == "/events" or not self.public_status
            if needs and not self.authorized(headers):
                return _error(401, f"{method} {path} {NEEDS_SECRET}" + (
                    "; or start the run with --public-status" if path == "/status" else ""),
                    (("WWW-Authenticate", 'Bearer realm="journey-studio"'),))
            if path == "/events":
                return await self._events(body)
            if self.status is None:
                return _error(404, "no status here")
            try:
                return _json(200, await self.status())
            except RPCError as e:
                return _error(503, f"Temporal: {e.message}")
        kind, _, token = path.lstrip("/").partition("/")
        if kind in KINDS and method == "GET":
            return await self._tracked(kind, token)
        return _error(404, "not found")

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
                # a unit that runs in a cohort's workflow: the event goes there, naming the unit
                hosts = await asyncio.to_thread(self.state.hosts, sorted({wid for _, wid, _ in batch}))
                try:
                    for i, wid, ev in batch:
                        host = hosts.get(wid)
                        ok = await self.signal(host or wid, Event(**{**ev, "unit": wid}) if host else Event(**ev))
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

    async def workflow_of(self, contact: int, iteration: int) -> str | None:
        """The workflow a contact's events go to in an iteration: its own, or (a journey that targets accounts)
        its account's; None when the contact did not enter that iteration."""
        return await asyncio.to_thread(self.state.workflow_of, self.runnable.key, iteration, contact)

    async def _events(self, body: bytes) -> Response:
        try:
            doc = json.loads(body or b"null")
        except RecursionError:
            return _error(400, f"the JSON is nested deeper than {MAX_DEPTH} levels")
        except ValueError:
            return _error(400, "the body is not JSON")
        if json_depth(doc) > MAX_DEPTH:
            return _error(400, f"the JSON is nested deeper than {MAX_DEPTH} levels")
        items = doc if isinstance(doc, list) else [doc]
        if len(items) > MAX_EVENTS:
            return _error(400, f"at most {MAX_EVENTS} events in one request")
        for i, item in enumerate(items):
            problem = self._check(item)
            if problem:
                return _error(400, f"event {i}: {problem}")
        events: list[tuple[str, Event]] = []
        unknown: list[dict[str, Any]] = []
        now = self.now()
        k = self.iteration_at(now)
        for item in items:
            step = str(item.get("step") or "")
            contact = int(item["contact"])
            wid = await self.workflow_of(contact, k)
            if wid is None:
                unknown.append({**item, "at": now, "iteration": k})
                continue
            events.append((wid, Event(str(item["event"]), now, step, contact)))
            if item.get("link"):  # a click on a named link: also the event an if/then on that link waits for
                events.append((wid, Event(f"{LINK_CLICK}{item['link']}", now, step, contact)))
        if unknown:  # nothing queued: the sender may post the others again, without them
            await asyncio.to_thread(self.state.dead_letter, unknown, "the contact has no workflow in this run")
            ids = sorted({int(u["contact"]) for u in unknown})
            return _error(404, f"no contact {', '.join(map(str, ids))} in this journey's iteration {k}; nothing "
                          "queued (kept as dead letters)", unknown=ids)
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
