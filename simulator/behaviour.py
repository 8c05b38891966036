"""What synthetic contacts do: an explicit, editable and saved assumption, with defaults from public benchmarks.

Per channel (and per message step, by override): the probability that a sent message is delivered, opened,
clicked given opened, unsubscribed from, and that a click leads to a conversion event; and the delay of each
(delivery: constant; open, click, conversion: lognormal with a median and a sigma). Background contact events
(purchase, web visits...) are Poisson processes with a rate per day; they reach goals and exit conditions.

Contacts differ by their latent engagement e in [0, 1] (Beta(2, 5), mean 2/7, as the audience generator draws
it) and by attributes or segments: each probability's odds are multiplied by exp(beta * (e - mean)) and by any
matching `Multiplier`; each event rate likewise. The channel figures are for a contact of average engagement.

Default figures and where they come from (ballparks; they are assumptions to edit, not facts about your list):

- Email: Mailchimp, "Email Marketing Benchmarks and Statistics by Industry" (average of all industries, 2019):
  open rate 21.33 %, click rate 2.62 % (so 12.3 % of openers click), hard bounces 0.40 % and soft bounces
  0.58 % (so 99.0 % delivered; a hard bounce ends email to that address for the rest of the run), unsubscribes
  0.26 %. Opens measured since Apple's Mail Privacy Protection
  (2021) are inflated; these pre-2021 figures are closer to real reading. Time to open: GetResponse's email
  benchmarks report roughly a quarter of opens in the first hour; a lognormal with a 3 h median and sigma 1.5
  gives 23 % within an hour and 92 % within a day.
- SMS: the widely repeated industry figures (often attributed to Gartner) of about 98 % of texts read, most
  within 3 minutes; SMS platforms' benchmark reports (e.g. Attentive, Klaviyo, SimpleTexting) put marketing-text
  click-through between roughly 5 % and 15 % and opt-outs well under 1 % per send. Here: 97 % delivered, 95 %
  read (1 min median, sigma 0.9: about 90 % of reads within 3 minutes), 8 % of readers click, 0.5 % opt out
  (STOP: texts only). An assumption: 1 % of sends fail for good (invalid or disconnected numbers).
- Push: Airship's push notification benchmarks report direct open rates in the low single digits (about 3-5 %,
  higher on Android than iOS). Here: 90 % delivered, of the 10 % not delivered half are for good (uninstalls,
  expired tokens: 5 % hard bounces), 5 % opened, an open is the click (it opens the linked screen), 0.1 % turn
  notifications off.
- Conversion after a click: 3 % (e-commerce sites commonly convert 2-3 % of visits; email visitors somewhat
  better), 45 min median. An assumption.
- Background event rates (purchase 0.2 % per contact per day, web visits 2 %...) have no public benchmark that
  fits every audience: set them from your own data. Engagement and loyalty effects are assumptions as well.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable, Mapping

import numpy as np

from app.model.attributes import LOYALTY_TIERS
from app.semantics.draws import (BACKGROUND, CLICK_DELAY, CLICK_UNSUBSCRIBE, CONVERT, CONVERT_DELAY, DELIVER_OPEN, LINK,
                             NEVER,
                             OPEN_DELAY, exponential_seconds, hash_keys, lognormal_seconds, name_key, normals, stream,
                             uniform, uniforms)
from simulator.population import CategoryColumn, Population

FORMAT = "behaviour/1"
Member = Callable[[str, np.ndarray, int], np.ndarray]  # (segment, population rows, time) -> members
DAY = 86_400
TARGETS = ("open", "click", "unsubscribe", "conversion")


def _paragraph(label: str) -> str:
    """The docstring's bullet that starts with `label` (e.g. "Email:"), on one line."""
    doc = " ".join((__doc__ or "").split())
    start = doc.find(f"- {label}")
    end = doc.find(" - ", start + 2)
    return doc[start + 2:end if end > 0 else len(doc)].strip()


# Where each default figure comes from, for the behaviour table: key -> (short citation, the docstring's text).
# Keys: a channel (its delivery, open, click and unsubscribe figures and delays), "conversion" (after a click,
# every channel) and "event_rates".
SOURCES: dict[str, tuple[str, str]] = {
    "email": ("Mailchimp 2019; GetResponse", _paragraph("Email:")),
    "sms": ("Gartner; Attentive, Klaviyo", _paragraph("SMS:")),
    "push": ("Airship push benchmarks", _paragraph("Push:")),
    "conversion": ("Assumption (2-3 % of visits)", _paragraph("Conversion after a click:")),
    "event_rates": ("Assumption: use your own data", _paragraph("Background event rates")),
}


@dataclass(frozen=True)
class ChannelBehaviour:
    """Probabilities and delays for one channel (or one message). Delays in seconds."""

    delivery: float
    open: float
    click: float
    unsubscribe: float
    conversion: float
    delivery_delay: int
    open_median: float
    open_sigma: float
    click_median: float
    click_sigma: float
    conversion_median: float
    conversion_sigma: float
    hard_bounce: float = 0.0  # the share of sends that hard-bounce (part of 1 - delivery): the address is dead

    @property
    def unsubscribe_given_open(self) -> float:
        """Unsubscribing needs reading the message: the per-delivered rate becomes a per-open probability."""
        return min(1.0, self.unsubscribe / self.open) if self.open > 0 else 0.0


_PROBABILITIES = ("delivery", "open", "click", "unsubscribe", "conversion", "hard_bounce")


def _check_channels(channels: Mapping[str, ChannelBehaviour]) -> None:
    """Probabilities lie in [0, 1] and delays are not negative; ValueError names the channel and field."""
    for name, ch in channels.items():
        for f in fields(ChannelBehaviour):
            value = getattr(ch, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"channels.{name}.{f.name} must be a number, not {value!r}")
            if f.name in _PROBABILITIES and not 0.0 <= value <= 1.0:
                raise ValueError(f"channels.{name}.{f.name} is a probability: give a number from 0 to 1, not {value}")
            if f.name not in _PROBABILITIES and value < 0:
                raise ValueError(f"channels.{name}.{f.name} is a delay or spread: it cannot be negative ({value})")
        if ch.hard_bounce > 1.0 - ch.delivery + 1e-12:
            raise ValueError(f"channels.{name}.hard_bounce ({ch.hard_bounce}) is part of the undelivered share "
                             f"(1 - delivery = {1.0 - ch.delivery:.4g}): it cannot be larger")


@dataclass(frozen=True)
class Multiplier:
    """Multiply the odds of `target` ('open', 'click', 'unsubscribe', 'conversion') or the rate of event
    `event:<name>` by `factor` for contacts whose `attribute` equals `value`, or who are in `segment`."""

    target: str
    factor: float
    attribute: str | None = None
    value: str | None = None
    segment: str | None = None


DEFAULT_CHANNELS: dict[str, ChannelBehaviour] = {
    "email": ChannelBehaviour(delivery=0.9902, open=0.2133, click=0.1228, unsubscribe=0.0026, conversion=0.03,
                              delivery_delay=60, open_median=3 * 3600, open_sigma=1.5, click_median=120,
                              click_sigma=1.0, conversion_median=2700, conversion_sigma=1.5, hard_bounce=0.0040),
    "sms": ChannelBehaviour(delivery=0.97, open=0.95, click=0.08, unsubscribe=0.005, conversion=0.03,
                            delivery_delay=10, open_median=60, open_sigma=0.9, click_median=60, click_sigma=1.0,
                            conversion_median=2700, conversion_sigma=1.5, hard_bounce=0.01),
    "push": ChannelBehaviour(delivery=0.90, open=0.05, click=1.0, unsubscribe=0.001, conversion=0.03,
                             delivery_delay=5, open_median=900, open_sigma=2.0, click_median=1, click_sigma=0.0,
                             conversion_median=2700, conversion_sigma=1.5, hard_bounce=0.05),
}
DEFAULT_EVENT_RATES: dict[str, float] = {  # per contact per day (assumptions)
    "purchase": 0.002, "web_visit": 0.02, "form_submitted": 0.001, "registered": 0.0005, "renewed": 0.005,
    "subscribed": 0.0005, "unsubscribed": 0.0}
DEFAULT_ENGAGEMENT_EFFECT: dict[str, float] = {  # log-odds (or log-rate) per unit of engagement above the mean
    "open": 4.0, "click": 3.0, "unsubscribe": -2.0, "conversion": 2.0, "events": 3.0}
DEFAULT_MULTIPLIERS: tuple[Multiplier, ...] = tuple(
    Multiplier(target, factor, attribute="loyalty_tier", value=tier)
    for tier, factor in (("bronze", 1.05), ("silver", 1.1), ("gold", 1.2), ("platinum", 1.3))
    for target in ("open", "event:purchase"))


@dataclass(frozen=True)
class BehaviourModel:
    """The behaviour assumptions of a simulation run (see the module docstring for the defaults' sources)."""

    channels: Mapping[str, ChannelBehaviour] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    messages: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    event_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_RATES))
    engagement_effect: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ENGAGEMENT_EFFECT))
    engagement_mean: float = 2.0 / 7.0
    multipliers: tuple[Multiplier, ...] = DEFAULT_MULTIPLIERS
    conversion_event: str = "purchase"
    # where fitted figures came from: dotted figure name ("event_rates.purchase", "messages"...) -> file, rows,
    # date fitted, method (`journey-studio calibrate` writes it; a hand-written file needs none)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_step(self, step_id: str, channel: str) -> ChannelBehaviour:
        """The figures for one message step: its channel's, with the step's overrides applied."""
        base = self.channels[channel]
        over = self.messages.get(step_id)
        return replace(base, **over) if over else base  # type: ignore[arg-type]

    def neutral(self) -> BehaviourModel:
        """The same figures for every contact: no engagement effects, no multipliers (for closed-form checks)."""
        return replace(self, engagement_effect={}, multipliers=())

    def to_plain(self) -> dict[str, Any]:
        """A JSON-able, versioned form to save with a run."""
        return {"format": FORMAT, "channels": {k: asdict(v) for k, v in self.channels.items()},
                "messages": {k: dict(v) for k, v in self.messages.items()},
                "event_rates": dict(self.event_rates), "engagement_effect": dict(self.engagement_effect),
                "engagement_mean": self.engagement_mean,
                "multipliers": [{k: v for k, v in asdict(m).items() if v is not None} for m in self.multipliers],
                "conversion_event": self.conversion_event,
                **({"sources": {k: dict(v) for k, v in self.sources.items()}} if self.sources else {})}

    @classmethod
    def from_file(cls, d: Mapping[str, Any]) -> BehaviourModel:
        """Read a behaviour file a user edited: event rates and engagement effects it leaves out keep their
        defaults (as channels do; set one to 0 to turn it off). A saved run's own record is read exactly, with
        `from_plain`, so that it replays bit for bit."""
        default = cls()
        merged = dict(d)
        for key in ("event_rates", "engagement_effect"):
            if isinstance(d.get(key), Mapping):
                merged[key] = {**getattr(default, key), **d[key]}
        return cls.from_plain(merged)

    @classmethod
    def from_plain(cls, d: Mapping[str, Any]) -> BehaviourModel:
        """Read `to_plain`'s form; a missing key takes its default, an unknown channel field is refused."""
        if d.get("format", FORMAT) != FORMAT:
            raise ValueError(f"unsupported behaviour model format {d.get('format')!r} (expected {FORMAT})")
        names = {f.name for f in fields(ChannelBehaviour)}
        channels = dict(DEFAULT_CHANNELS)
        for k, v in (d.get("channels") or {}).items():
            unknown = set(v) - names
            if unknown:
                raise ValueError(f"unknown behaviour field(s) for {k}: {', '.join(sorted(unknown))}")
            channels[k] = replace(DEFAULT_CHANNELS[k], **v) if k in DEFAULT_CHANNELS else ChannelBehaviour(**v)
        _check_channels(channels)
        default = cls()
        return cls(channels=channels, messages={k: dict(v) for k, v in (d.get("messages") or {}).items()},
                   event_rates=dict(d.get("event_rates", default.event_rates)),
                   engagement_effect=dict(d.get("engagement_effect", default.engagement_effect)),
                   engagement_mean=float(d.get("engagement_mean", default.engagement_mean)),
                   multipliers=tuple(Multiplier(**m) for m in d["multipliers"]) if "multipliers" in d
                   else default.multipliers,
                   conversion_event=str(d.get("conversion_event", default.conversion_event)),
                   sources=_sources(d.get("sources")))


def _sources(v: Any) -> dict[str, dict[str, Any]]:
    """The provenance section: a mapping of figure names to mappings of plain values (text, numbers)."""
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ValueError("sources: a mapping of figure names to where each came from")
    out: dict[str, dict[str, Any]] = {}
    for k, entry in v.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"sources.{k}: a mapping (file, rows, fitted, method...)")
        for name, value in entry.items():
            if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and len(value) > 4000):
                raise ValueError(f"sources.{k}.{name}: a short text or a number")
        out[str(k)] = dict(entry)
    return out


class Modifiers:
    """Per-contact multipliers (odds for probabilities, rates for events) of some rows, computed on demand.

    `odds(target, idx)` and `rate(event, idx)` answer for positions `idx` into those rows (None means 1). The
    figures most sent contacts need (open; click and unsubscribe, as SMS are mostly read) and the event rates
    are computed once for all rows; conversion only for the few contacts that click.
    """

    EAGER = ("open", "click", "unsubscribe")

    def __init__(self, model: BehaviourModel, pop: Population, rows: np.ndarray, events: tuple[str, ...],
                 at: int, member: Member | None = None, *, eager: bool = True) -> None:
        self._model, self._pop, self._rows, self._at = model, pop, rows, at
        self._member = member
        self._dev = pop.engagement[rows] - model.engagement_mean
        self._full: dict[str, np.ndarray | None] = {}
        for target in (*(self.EAGER if eager else ()), *(f"event:{e}" for e in events)):
            self._full[target] = self._compute(target, None)

    def _compute(self, target: str, idx: np.ndarray | None) -> np.ndarray | None:
        model = self._model
        beta = model.engagement_effect.get("events" if target.startswith("event:") else target, 0.0)
        applies = [m for m in model.multipliers if m.target == target and m.factor != 1.0]
        rows = self._rows if idx is None or not applies else np.take(self._rows, idx)  # only multipliers read them
        log = None
        if beta:
            log = (self._dev if idx is None else np.take(self._dev, idx)) * beta
        tables: dict[str, np.ndarray] = {}  # multipliers on a text attribute: one log factor per value
        for m in applies:
            col = self._pop.attribute(m.attribute or "") if m.segment is None else None
            if isinstance(col, CategoryColumn):
                table = tables.setdefault(m.attribute or "", np.zeros(len(col.values) + 1))
                if m.value in col.values:
                    table[col.values.index(m.value)] += np.log(m.factor)
                continue
            term = _matches(m, self._pop, rows, self._at, self._member) * np.log(m.factor)
            log = term if log is None else log + term
        for name, table in tables.items():
            col = self._pop.attribute(name)
            assert isinstance(col, CategoryColumn)
            codes = np.take(col.codes, rows)  # -1 (no data) reads the last entry, 0
            term = np.take(table, codes)
            log = term if log is None else log + term
        if log is None:
            return None
        np.exp(log, out=log)
        return log

    def odds(self, target: str, idx: np.ndarray | None) -> np.ndarray | None:
        """Odds multipliers of 'open', 'click', 'unsubscribe' or 'conversion' for positions `idx` (worked out for
        those positions alone unless the figure is asked for most rows: then once for all of them); None: for
        every row (the array kept: not to be written to)."""
        if target not in self._full and (idx is None or 2 * len(idx) > len(self._rows)):
            self._full[target] = self._compute(target, None)
        if target in self._full:
            full = self._full[target]
            return full if full is None or idx is None else np.take(full, idx)
        return self._compute(target, idx)

    def rate(self, event: str, idx: np.ndarray | None = None) -> np.ndarray | None:
        """Rate multipliers of contact event `event` (all rows, or positions `idx`)."""
        key = f"event:{event}"
        full = self._full[key] if key in self._full else self._compute(key, None)
        return full if full is None or idx is None else np.take(full, idx)


def contact_modifiers(model: BehaviourModel, pop: Population, rows: np.ndarray, events: tuple[str, ...],
                      at: int, member: Member | None = None, *, eager: bool = True) -> Modifiers:
    """Engagement and attribute / segment multipliers of contacts `rows` (segments: membership at `at`, as
    `member(segment, rows, at)` answers); `eager=False` works each figure out when it is first asked for."""
    return Modifiers(model, pop, rows, events, at, member, eager=eager)


def _matches(m: Multiplier, pop: Population, rows: np.ndarray, at: int, member: Member | None) -> np.ndarray:
    if m.segment is not None:
        if member is None:
            raise ValueError(f"a multiplier names segment '{m.segment}', which this run cannot evaluate")
        return member(m.segment, rows, at)
    col = pop.attribute(m.attribute or "")
    if isinstance(col, CategoryColumn):
        # every code of the value: a text may stand at several codes (the mixed locale's 'US' is three zones)
        codes = [i for i, v in enumerate(col.values) if v == m.value]
        return np.isin(np.take(col.codes, rows), codes)
    if col is None:
        if m.attribute == "loyalty_tier" and m.value not in LOYALTY_TIERS:
            raise ValueError(f"unknown loyalty tier {m.value!r}")
        return np.zeros(len(rows), dtype=bool)
    return np.take(col, rows) == float(m.value) if m.value is not None else np.zeros(len(rows), dtype=bool)


def probability(p: float, odds_multiplier: np.ndarray | None) -> np.ndarray | float:
    """A base probability with each contact's odds multiplied (p itself where there is no multiplier)."""
    if odds_multiplier is None or p <= 0.0 or p >= 1.0:
        return p
    q = odds_multiplier * (p / (1.0 - p))
    return q / (1.0 + q)


@dataclass(frozen=True)
class MessageEvents:
    """Event times (UTC seconds, NEVER if it does not happen) of messages sent to some contacts."""

    delivered: np.ndarray
    bounced: np.ndarray
    hard_bounced: np.ndarray  # the bounced whose address is dead (the channel cannot reach them again)
    opened: np.ndarray
    clicked: np.ndarray
    unsubscribed: np.ndarray
    converted: np.ndarray

    link: np.ndarray | None = None  # per contact: the index of the link clicked (-1: none); None: no links

    def get(self, event: str) -> np.ndarray:
        return getattr(self, event)

    def watched(self, event: str, link_index: int | None) -> np.ndarray:
        """The times of a watched event: `link_index` (StepPlan.link_index) picks clicks on one link."""
        if link_index is None:
            return self.get(event)
        if self.link is None or link_index < 0:
            return np.full(len(self.clicked), NEVER, dtype=np.int64)
        return np.where(self.link == link_index, self.clicked, NEVER)


def message_events(b: ChannelBehaviour, seed: int, iteration: int, step_key: int, keys: np.ndarray,
                   send: np.ndarray, mods: Modifiers, pos: np.ndarray, links: int = 0) -> MessageEvents:
    """Draw what contacts (by id `keys`; `pos` into `mods`' rows) do with a message sent at `send`.

    A message with `links` links: each click is on one of them, chosen uniformly (an assumption: a message's
    links are equally attractive).

    Only the draws needed are made: delays for those who open, clicks for openers, conversions for clickers.
    """
    n = len(keys)
    base = (step_key, iteration)
    ud, uo = uniforms(hash_keys(keys, stream(seed, *base, DELIVER_OPEN)))
    ok = ud < b.delivery
    t_del = send + b.delivery_delay
    delivered = np.where(ok, t_del, NEVER)
    bounced = np.where(ok, NEVER, t_del)
    # the undelivered draws at the top of [0, 1) are the hard bounces (no extra draw: a soft bounce stays soft)
    hard_bounced = np.where(ud >= 1.0 - b.hard_bounce, t_del, NEVER) if b.hard_bounce > 0 \
        else np.full(n, NEVER, dtype=np.int64)
    opened = np.full(n, NEVER, dtype=np.int64)
    clicked = np.full(n, NEVER, dtype=np.int64)
    unsub = np.full(n, NEVER, dtype=np.int64)
    converted = np.full(n, NEVER, dtype=np.int64)
    ok &= uo < probability(b.open, mods.odds("open", pos))
    o = np.flatnonzero(ok)
    if o.size:
        ko, po = np.take(keys, o), np.take(pos, o)
        t_open = np.take(t_del, o) + lognormal_seconds(normals(hash_keys(ko, stream(seed, *base, OPEN_DELAY))),
                                                       b.open_median, b.open_sigma)
        opened[o] = t_open
        uc, uu = uniforms(hash_keys(ko, stream(seed, *base, CLICK_UNSUBSCRIBE)))
        clicks = uc < probability(b.click, mods.odds("click", po))
        unsubs = uu < probability(b.unsubscribe_given_open, mods.odds("unsubscribe", po))
        acts = np.flatnonzero(clicks | unsubs)
        if acts.size:  # one delay after opening serves both: clicking a link, or the unsubscribe link
            t_act = np.take(t_open, acts) + lognormal_seconds(
                normals(hash_keys(np.take(ko, acts), stream(seed, *base, CLICK_DELAY))), b.click_median,
                b.click_sigma)
            c = np.take(clicks, acts)
            clicked[np.take(o, np.compress(c, acts))] = np.compress(c, t_act)
            u = np.take(unsubs, acts)
            unsub[np.take(o, np.compress(u, acts))] = np.compress(u, t_act)
        c = np.compress(clicks, o)
        if c.size:
            kc = np.take(keys, c)
            uv, _ = uniforms(hash_keys(kc, stream(seed, *base, CONVERT)))
            conv = np.flatnonzero(uv < probability(b.conversion, mods.odds("conversion", np.take(pos, c))))
            if conv.size:
                d = lognormal_seconds(normals(hash_keys(np.take(kc, conv), stream(seed, *base, CONVERT_DELAY))),
                                      b.conversion_median, b.conversion_sigma)
                cc = np.take(c, conv)
                converted[cc] = np.take(clicked, cc) + d
    link = None
    if links:
        link = np.full(n, -1, dtype=np.int64)
        hit = np.flatnonzero(clicked < NEVER)
        if hit.size:
            if links == 1:
                link[hit] = 0
            else:
                ul, _ = uniforms(hash_keys(np.take(keys, hit), stream(seed, *base, LINK)))
                link[hit] = np.minimum((ul * links).astype(np.int64), links - 1)
    return MessageEvents(delivered, bounced, hard_bounced, opened, clicked, unsub, converted, link)


def background_times(model: BehaviourModel, seed: int, iteration: int, event: str, keys: np.ndarray,
                     entry: np.ndarray, rate_multiplier: np.ndarray | None) -> np.ndarray:
    """The first time after `entry` each contact does `event` on its own (Poisson: memoryless from entry)."""
    rate = model.event_rates.get(event, 0.0) / DAY
    if rate <= 0.0:
        return np.full(len(keys), NEVER, dtype=np.int64)
    u = uniform(hash_keys(keys, stream(seed, BACKGROUND, name_key(event), iteration)))
    if rate_multiplier is None:
        return entry + exponential_seconds(u, rate)
    r = rate_multiplier * rate
    return entry + (positive_waits(u, r) if bool((r > 0.0).all()) else exponential_seconds(u, r))


def positive_waits(u: np.ndarray, rate_per_second: np.ndarray) -> np.ndarray:
    """`exponential_seconds(u, rate_per_second)` for rates all above zero: the same operations, less the mask for
    rates of zero, with fewer temporaries."""
    e = np.log(u.astype(np.float32))
    np.negative(e, out=e)
    d = np.divide(e, rate_per_second, dtype=np.float64)
    np.rint(d, out=d)
    np.clip(d, 1.0, 1e15, out=d)
    return d.astype(np.int64)


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "sources" and not prefix:  # where figures came from, not a figure
            continue
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        elif k != "format" or prefix:
            out[f"{prefix}{k}"] = v
    return out


_DEFAULT_FLAT: dict[str, Any] = {}


def behaviour_changes(behaviour: Mapping[str, Any]) -> tuple[tuple[str, Any, Any], ...]:
    """The figures of a behaviour model (its plain form) that differ from the defaults: (dotted name, value,
    default).

    Names are dotted paths of `BehaviourModel.to_plain()` ("channels.email.open", "messages.announce.click",
    "event_rates.purchase", "multipliers"...); a figure the defaults lack has the default None.
    """
    if not _DEFAULT_FLAT:
        _DEFAULT_FLAT.update(_flat(BehaviourModel().to_plain()))
    try:  # compare the model as read (a missing key takes its default), not the stored text
        plain = BehaviourModel.from_plain(behaviour).to_plain()
    except (ValueError, TypeError, KeyError):
        plain = dict(behaviour)
    mine = _flat(plain)
    names = list(mine) + [n for n in _DEFAULT_FLAT if n not in mine]
    return tuple((n, mine.get(n), _DEFAULT_FLAT.get(n)) for n in names if mine.get(n) != _DEFAULT_FLAT.get(n))
