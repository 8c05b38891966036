"""Named NumPy columns as one blob, fast both ways: how a saved run keeps its trace.

`pack(arrays, header)` writes a magic, the codec's name, then (through Zstandard at its fastest level when the
`zstandard` package is there, else as they are) a JSON description of the columns (name, dtype, length) and the
header, and the columns' bytes one after the other. `unpack(data)` reads it back into writable arrays, and also
reads the compressed npz files runs were saved as before (`np.savez_compressed`: its zlib cost ten times the
run itself on a million contacts, while Zstandard's fastest level costs a fraction of it and compresses about
as well on these int32 columns).
"""

from __future__ import annotations

import io
import json
from typing import Any, Mapping

import numpy as np

MAGIC = b"JSCOLS1\n"
NPZ_MAGIC = b"PK\x03\x04"
ZSTD_LEVEL = 1  # the fastest level of the usual range: 4-5 times smaller than the raw int32 columns
THREADED_BYTES = 4 << 20  # from this size Zstandard compresses on two threads (the bytes differ, not what they hold)
_CODECS = ("zstd", "raw")
_ALIGN = 8


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:  # an optional speed-up: without it runs are kept as they are (larger, as fast)
        return None
    return zstandard


def pack(arrays: Mapping[str, np.ndarray], header: Mapping[str, Any] | None = None, *,
         codec: str | None = None) -> bytes:
    """The arrays (any shape, no objects) and a JSON-able `header` as one blob; `codec` 'zstd' (the default when
    the package is installed) or 'raw'."""
    zstd = _zstandard()
    codec = codec or ("zstd" if zstd is not None else "raw")
    if codec not in _CODECS or (codec == "zstd" and zstd is None):
        raise ValueError(f"cannot pack with codec {codec!r}")
    cols = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    described = {"columns": [[name, a.dtype.str, list(a.shape)] for name, a in cols.items()],
                 "header": dict(header or {})}
    head = json.dumps(described).encode("utf-8")
    head += b" " * (-len(head) % _ALIGN)  # every column starts on a multiple of 8 bytes (aligned views on load)
    parts: list[bytes | memoryview] = [len(head).to_bytes(8, "little"), head]
    for a in cols.values():
        if a.nbytes:
            parts.append(a.reshape(-1).data.cast("B"))
            if a.nbytes % _ALIGN:
                parts.append(bytes(-a.nbytes % _ALIGN))
    size = sum(len(p) for p in parts)
    if codec == "raw":
        return b"".join([MAGIC, b"raw\n", *parts])
    # a large trace (a million contacts: 37 MB, 0.16 s on one thread) on two threads: saving a run ends with it,
    # while the other core has only the trace's digest to make
    threads = 2 if size >= THREADED_BYTES else 0
    compressor = zstd.ZstdCompressor(level=ZSTD_LEVEL, threads=threads).compressobj(size=size)
    out = [MAGIC, b"zstd\n"]
    out += [compressor.compress(p) for p in parts]
    out.append(compressor.flush())
    return b"".join(out)


def _payload(data: bytes) -> memoryview:
    """The uncompressed payload of a packed blob (writable memory)."""
    rest = memoryview(data)[len(MAGIC):]
    end = bytes(rest[:8]).find(b"\n")
    codec = bytes(rest[:end]).decode("ascii", "replace")
    body = rest[end + 1:]
    if codec == "raw":
        return memoryview(bytearray(body))
    if codec != "zstd":
        raise ValueError(f"unknown codec {codec!r}")
    zstd = _zstandard()
    if zstd is None:
        raise ValueError("this run was kept compressed with Zstandard: install the 'zstandard' package to read it")
    params = zstd.get_frame_parameters(body)
    out = bytearray(params.content_size)
    with zstd.ZstdDecompressor().stream_reader(body) as reader:
        view, done = memoryview(out), 0
        while done < len(out):
            n = reader.readinto(view[done:])
            if not n:
                raise ValueError("the packed columns end early")
            done += n
    return memoryview(out)


def unpack(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The columns and the header `pack` wrote; an npz file gives its arrays and an empty header."""
    if data[:4] == NPZ_MAGIC:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}, {}
    if data[:len(MAGIC)] != MAGIC:
        raise ValueError("not packed columns")
    payload = _payload(data)
    size = int.from_bytes(payload[:8], "little")
    described = json.loads(bytes(payload[8:8 + size]).decode("utf-8"))
    offset = 8 + size
    arrays: dict[str, np.ndarray] = {}
    for name, dtype, shape in described["columns"]:
        dt = np.dtype(dtype)
        length = int(np.prod(shape))
        arrays[name] = (np.frombuffer(payload, dtype=dt, count=length, offset=offset) if length
                        else np.zeros(0, dt)).reshape(shape)
        offset += dt.itemsize * length
        offset += -offset % _ALIGN
    if offset != len(payload):
        raise ValueError("the packed columns do not match their description")
    return arrays, described["header"]


def is_packed(data: bytes) -> bool:
    """Whether `data` was written by `pack` (else, in a saved run, it is an older npz)."""
    return data[:len(MAGIC)] == MAGIC


__all__ = ["is_packed", "pack", "unpack"]
