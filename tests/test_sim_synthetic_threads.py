"""The synthetic population is drawn on two threads: the same contacts bit for bit as on one, and its history in
(contact, time, kind) order with each purchase worth its contact's share of lifetime value."""

from __future__ import annotations

import numpy as np
import pytest

from app.audience import synthetic
from app.audience.synthetic import synthesize
from simulator.population import profile_for_locale

AS_OF = 1_800_000_000


def _arrays(n: int, **kw: object) -> dict[str, np.ndarray]:
    base = synthesize(n, 17, profile_for_locale("mixed"), as_of=AS_OF, static=("Picked",), lists=("Opted out",),
                      **kw)  # type: ignore[arg-type]
    out = {f"h.{k}": getattr(base.interactions, k) for k in ("contact", "kind", "at", "value")}
    out["account"], out["lists"] = base.account, base.lists.codes
    out["static"] = base.static["Picked"]
    for name in ("engagement", "lifetime_value", "created_on", "consent_level", "time_zone", "city", "first_name",
                 "mobile_phone"):
        col = base.column(name)
        out[name] = np.asarray(getattr(col, "codes", col))
    return out


@pytest.mark.parametrize("accounts", [None, 0, 300])
def test_two_threads_or_one_give_the_same_population(accounts: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_THREADED", 1)
    threaded = _arrays(3000, accounts=accounts)
    monkeypatch.setattr(synthetic, "_THREADED", 10**9)
    inline = _arrays(3000, accounts=accounts)
    assert threaded.keys() == inline.keys()
    for name in threaded:
        assert np.array_equal(threaded[name], inline[name], equal_nan=threaded[name].dtype.kind == "f"), name


def test_history_is_in_contact_time_kind_order_with_values_per_contact() -> None:
    base = synthesize(5000, 4, profile_for_locale("mixed"), as_of=AS_OF)
    h = base.interactions
    assert h.contact.dtype == np.int64 and h.at.dtype == np.int64 and h.kind.dtype == np.int8
    assert len(h) > 5000 and (h.at < AS_OF).all()
    order = np.lexsort((h.kind, h.at, h.contact))
    assert np.array_equal(order, np.arange(len(h)))  # sorted already: a stable sort leaves every row in place
    buys = h.kind == 0
    assert np.isnan(h.value[~buys]).all()
    value = np.asarray(base.column("lifetime_value"))
    per_contact = np.bincount(h.contact[buys], minlength=base.n)
    sums = np.bincount(h.contact[buys], weights=h.value[buys], minlength=base.n)
    buyers = per_contact > 0
    assert np.allclose(sums[buyers], value[buyers], atol=0.01 * per_contact[buyers])
    assert (value[~buyers] == 0).all()
