"""Counter-based random draws: the same numbers for one contact or for a million, in any order.

A draw is a pure function of (seed, key, stream). The key is a contact id, or an account id when all the
contacts of an account must take the same path. The stream names what the draw is for: the step (by a hash of
its id, so editing one step does not reshuffle the others), the iteration and the purpose. The bits come from
SplitMix64's finaliser (Steele, Lea & Flood 2014), which passes BigCrush when fed a Weyl sequence; here it is
fed `key * golden + stream`.

The reference interpreter and the vectorised engine both call these functions (the reference with arrays of
one element), so both see identical draws whatever the processing order or chunking. Each 64-bit hash gives
two 32-bit uniforms; a normal variate uses both (Box-Muller). Times derived from draws are rounded to whole
seconds, which also absorbs any last-bit difference between vectorised and scalar transcendental functions.
"""

from __future__ import annotations

import sys
from typing import Final

import numpy as np

from app.semantics.keys import NEVER, name_key

MASK64: Final = (1 << 64) - 1
GOLDEN: Final = 0x9E3779B97F4A7C15
_M1: Final = 0xBF58476D1CE4E5B9
_M2: Final = 0x94D049BB133111EB
_U_GOLDEN, _U_M1, _U_M2 = np.uint64(GOLDEN), np.uint64(_M1), np.uint64(_M2)
_TWO32: Final = 2.0 ** -32

# Purposes: what a draw is for. Distinct constants keep the streams independent.
DELIVER_OPEN: Final = 1
OPEN_DELAY: Final = 2
CLICK_UNSUBSCRIBE: Final = 3
CLICK_DELAY: Final = 4
CONVERT: Final = 5
CONVERT_DELAY: Final = 6
SPLIT: Final = 7
SPLIT_ACCOUNT: Final = 8
BACKGROUND: Final = 9
REPLICA: Final = 10
LINK: Final = 11  # which of a message's links a click is on


def mix64(x: int) -> int:
    """SplitMix64's finaliser on a Python int (exact 64-bit arithmetic)."""
    x &= MASK64
    x = ((x ^ (x >> 30)) * _M1) & MASK64
    x = ((x ^ (x >> 27)) * _M2) & MASK64
    return x ^ (x >> 31)


def stream(seed: int, *parts: int | str) -> int:
    """The 64-bit stream constant for a seed and a purpose path, e.g. stream(seed, step_key, iteration, OPEN_DELAY)."""
    h = mix64(seed ^ 0x5EED5EED5EED5EED)
    for p in parts:
        h = mix64(h ^ (name_key(p) if isinstance(p, str) else (p & MASK64)) ^ GOLDEN)
    return h


def derive_seed(seed: int, index: int) -> int:
    """An independent 63-bit seed for replica `index` of a run with `seed`."""
    return stream(seed, REPLICA, index) >> 1


def hash_key(key: int, stream_id: int) -> int:
    """The 64-bit hash of one key in a stream (the scalar twin of `hash_keys`)."""
    return mix64(key * GOLDEN + stream_id)


def hash_keys(keys: np.ndarray, stream_id: int) -> np.ndarray:
    """64-bit hashes of many keys in one stream (uint64; in-place steps keep temporaries to two arrays)."""
    x = np.asarray(keys).astype(np.uint64)  # a copy: int64 ids become their two's-complement bits
    x *= _U_GOLDEN
    x += np.uint64(stream_id & MASK64)
    t = np.right_shift(x, np.uint64(30))
    x ^= t
    x *= _U_M1
    np.right_shift(x, np.uint64(27), out=t)
    x ^= t
    x *= _U_M2
    np.right_shift(x, np.uint64(31), out=t)
    x ^= t
    return x


_HI, _LO = (1, 0) if sys.byteorder == "little" else (0, 1)  # which uint32 word of a hash holds its high bits


def uniforms(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two uniforms in (0, 1) from each hash: the high and the low 32 bits, centred in their cell."""
    # via the two uint32 words: NumPy converts uint32 to float64 an order of magnitude faster than uint64
    both = h.view(np.uint32).astype(np.float64)
    both += 0.5
    both *= _TWO32
    return both[_HI::2], both[_LO::2]


def uniform(h: np.ndarray) -> np.ndarray:
    """The first of `uniforms` alone (the high 32 bits), when one draw per hash is enough."""
    hi = h.view(np.uint32)[_HI::2].astype(np.float64)
    hi += 0.5
    hi *= _TWO32
    return hi


_TWO23 = np.float32(2.0 ** -23)
_HALF32 = np.float32(0.5)
_TWO_PI32 = np.float32(2.0 * np.pi)


def _uniforms32(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 uniforms in (0, 1) per hash, 23 bits each (exact in float32; the smallest is 2**-24)."""
    hi = np.right_shift(h, np.uint64(41)).astype(np.int32).astype(np.float32)
    hi += _HALF32
    hi *= _TWO23
    lo = np.bitwise_and(h, np.uint64(0x7FFFFF)).astype(np.int32).astype(np.float32)
    lo += _HALF32
    lo *= _TWO23
    return hi, lo


# Transforms run in float32: NumPy vectorises float32 log / exp / cos (several times faster than float64 here),
# gives the same result for one element as for many, and times end as whole seconds anyway.
def normals(h: np.ndarray) -> np.ndarray:
    """One standard normal per hash (Box-Muller on two 23-bit uniforms; float32, |z| < 5.8)."""
    u1, u2 = _uniforms32(h)
    r = np.log(u1)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    u2 *= _TWO_PI32
    np.cos(u2, out=u2)
    r *= u2
    return r


def lognormal_seconds(z: np.ndarray, median: float, sigma: float) -> np.ndarray:
    """Delays in whole seconds (at least 1) from standard normals: median * exp(sigma * z)."""
    if sigma == 0.0:
        return np.full(len(z), max(1, int(round(median))), dtype=np.int64)
    d = z * np.float32(sigma)
    np.exp(d, out=d)
    d *= np.float32(median)
    np.rint(d, out=d)
    np.clip(d, np.float32(1.0), np.float32(1e15), out=d)
    return d.astype(np.int64)


def exponential_seconds(u: np.ndarray, rate_per_second: np.ndarray | float) -> np.ndarray:
    """Waiting times in whole seconds (at least 1) of Poisson processes; NEVER where the rate is zero."""
    e = np.log(u.astype(np.float32))
    np.negative(e, out=e)
    rate = np.asarray(rate_per_second, dtype=np.float64)
    with np.errstate(divide="ignore"):
        d = e / rate  # float64: a small rate makes a long wait
    np.rint(d, out=d)
    if rate.ndim == 0:
        if rate <= 0.0:
            return np.full(len(u), NEVER, dtype=np.int64)
        np.clip(d, 1.0, 1e15, out=d)
        return d.astype(np.int64)
    d = np.where(rate > 0.0, np.clip(d, 1.0, 1e15), float(NEVER))
    return d.astype(np.int64)
