"""Small SVG helpers for the run report: escaped elements, text width estimates, axes, a line chart, funnel bars
with interval whiskers and the picture of a journey (tiles placed by the layered layout, links as curves).

Everything returns SVG text (one `<svg>` element that parses as XML), with user text escaped. There is no font
measuring without a GUI: widths are estimated from DejaVu Sans, wider than the usual sans-serif fonts, so text
that fits here fits in a browser too.
"""

from __future__ import annotations

import functools
import html
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from typing import Mapping, Sequence

from app.model.journey import Journey, Step
from app.model.layout import LAYER_GAP, ROW_GAP, layered_layout
from app.model.registry import END, REGISTRY, Port, TileType
from app.resources import resource_path

FONT = "'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif"
INK, MUTED, GRID, CARD, BORDER = "#1f2937", "#4b5563", "#e5e7eb", "#ffffff", "#cbd5e1"
LINK, FAINT = "#64748b", "#94a3b8"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# advance widths in em of DejaVu Sans (a wide face: an estimate that errs on the long side)
_LOWER = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    .613, .635, .550, .635, .615, .352, .635, .634, .278, .278, .579, .278, .974, .634, .612, .635, .635, .411,
    .521, .392, .634, .592, .818, .592, .592, .525)))
_UPPER = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    .684, .686, .698, .770, .632, .575, .775, .752, .295, .295, .656, .557, .863, .748, .787, .603, .787, .695,
    .635, .611, .732, .684, .989, .685, .611, .685)))
_OTHER = {" ": .318, ",": .318, ".": .318, ":": .337, ";": .337, "·": .318, "'": .275, "-": .361, "(": .390,
          ")": .390, "/": .337, "%": .950, "±": .838, "…": 1.0, "!": .400, "?": .531, "&": .780, "_": .500}


def esc(text: object) -> str:
    """User text made safe for HTML and XML (quotes too)."""
    return html.escape(str(text), quote=True)


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated width in pixels of `text` at font `size`."""
    em = sum(_LOWER.get(c) or _UPPER.get(c) or _OTHER.get(c) or (.636 if c.isdigit() else .75) for c in text)
    return em * size * (1.16 if bold else 1.0)


def fit(text: str, size: float, width: float, *, bold: bool = False) -> str:
    """`text`, cut with an ellipsis so that it fits in `width` pixels."""
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def el(tag: str, content: str = "", **attrs: object) -> str:
    """An element: attribute names take '-' for '_' (a trailing '_' is dropped: `class_`); values are escaped;
    `content` is inserted as is (escape text with `esc`)."""
    parts = []
    for k, v in attrs.items():
        if v is None:
            continue
        name = k.rstrip("_").replace("_", "-")
        parts.append(f' {name}="{esc(_num(v) if isinstance(v, float) else v)}"')
    a = "".join(parts)
    return f"<{tag}{a}>{content}</{tag}>" if content else f"<{tag}{a}/>"


def text(x: float, y: float, s: str, *, size: float = 11, fill: str = INK, anchor: str = "start",
         bold: bool = False, **attrs: object) -> str:
    """A line of (escaped) text with its baseline at y."""
    return el("text", esc(s), x=float(x), y=float(y), font_size=size, fill=fill,
              text_anchor=None if anchor == "start" else anchor, font_weight="bold" if bold else None, **attrs)


def document(width: float, height: float, body: str, *, label: str, class_: str = "") -> str:
    """A whole `<svg>` element of `width` x `height` pixels (it scales down with the page)."""
    w, h = math.ceil(width), math.ceil(height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="{esc(class_)}" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}">'
            f'{el("title", esc(label))}{body}</svg>')


def count(v: float) -> str:
    """A count as people read it: 12,345."""
    return f"{v:,.0f}"


def axis_count(v: float) -> str:
    """A count on an axis: 900, 12,000, 1.5M."""
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"


def nice_ticks(high: float, most: int = 5) -> list[float]:
    """Ticks from 0 at a round step (1, 2 or 5 times a power of ten), the last at or above `high`."""
    if not high > 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1 and high >= 1:
        step = 1.0
    n = math.ceil(high / step - 1e-9)
    return [i * step for i in range(n + 1)]


def day_label(day: str, *, with_year: bool) -> str:
    """'2026-12-01' as '1 Dec' (or '1 Dec 2026')."""
    d = date.fromisoformat(day)
    return f"{d.day} {MONTHS[d.month - 1]}" + (f" {d.year}" if with_year else "")


def date_ticks(days: Sequence[str], most: int) -> list[tuple[int, str]]:
    """Indexes of `days` to label (at most `most`, at 1, 2, 7, 14 or 28-day steps) with their labels; the year
    shows on the first label and where it changes."""
    if not days:
        return []
    step = next((s for s in (1, 2, 7, 14, 28, 56, 91, 182, 364) if len(days) / s <= most), 728)
    out, year = [], None
    for i in range(0, len(days), step):
        y = days[i][:4]
        out.append((i, day_label(days[i], with_year=y != year)))
        year = y
    return out


# --- line chart -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """One line of a chart: a name for the legend, a colour, values per day and optionally an interval band."""

    name: str
    color: str
    values: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    dash: str | None = None


def line_chart(days: Sequence[str], series: Sequence[Series], *, label: str, y_label: str,
               width: float = 880, height: float = 300) -> str:
    """A chart of daily values: a legend on top, counts on the left, dates below; bands where given."""
    left, right, bottom = 64.0, 16.0, 30.0
    parts: list[str] = []
    # the legend: swatches in rows across the top
    x, y, legend_h = left, 16.0, 24.0
    for s in series:
        w = 26 + text_width(s.name, 11) + 18
        if x + w > width - right and x > left:
            x, y, legend_h = left, y + 18, legend_h + 18
        parts.append(el("line", x1=x, y1=y - 4.0, x2=x + 20, y2=y - 4.0, stroke=s.color, stroke_width=3,
                        stroke_dasharray=s.dash))
        parts.append(text(x + 26, y, s.name, fill=INK))
        x += w
    top = legend_h + 12.0
    pw, ph = width - left - right, height - top - bottom
    n = len(days)
    highs = [v for s in series for v in (s.high or s.values) if v is not None and math.isfinite(v)]
    ticks = nice_ticks(max(highs, default=0.0))
    ymax = ticks[-1]

    def px(i: float) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def py(v: float) -> float:
        return top + ph - ph * max(0.0, min(v, ymax)) / ymax

    for t in ticks:
        parts.append(el("line", x1=left, y1=py(t), x2=left + pw, y2=py(t), stroke=GRID, stroke_width=1))
        parts.append(text(left - 6, py(t) + 4, axis_count(t), size=10.5, fill=MUTED, anchor="end"))
    parts.append(text(14, top + ph / 2, y_label, size=10.5, fill=MUTED, anchor="middle",
                      transform=f"rotate(-90 14 {_num(top + ph / 2)})"))
    for i, lab in date_ticks(days, max(2, int(pw // 80))):
        parts.append(el("line", x1=px(i), y1=top + ph, x2=px(i), y2=top + ph + 5, stroke=MUTED, stroke_width=1))
        half = text_width(lab, 10.5) / 2 + 2  # a label at either end stays inside the picture
        parts.append(text(min(max(px(i), half), width - half), top + ph + 18, lab, size=10.5, fill=MUTED,
                          anchor="middle"))
    parts.append(el("line", x1=left, y1=top + ph, x2=left + pw, y2=top + ph, stroke=MUTED, stroke_width=1))
    for s in series:
        if s.low is not None and s.high is not None and n > 1:
            upper = " ".join(f"{_num(px(i))},{_num(py(v))}" for i, v in enumerate(s.high))
            lower = " ".join(f"{_num(px(i))},{_num(py(max(v, 0.0)))}" for i, v in reversed(list(enumerate(s.low))))
            parts.append(el("polygon", points=f"{upper} {lower}", fill=s.color, fill_opacity=0.14, stroke="none"))
    for s in series:
        if n > 1:
            pts = " ".join(f"{_num(px(i))},{_num(py(v))}" for i, v in enumerate(s.values))
            parts.append(el("polyline", points=pts, fill="none", stroke=s.color, stroke_width=2,
                            stroke_linejoin="round", stroke_dasharray=s.dash))
        else:
            parts.extend(el("circle", cx=px(0), cy=py(v), r=4, fill=s.color) for v in s.values)
    return document(width, height, "".join(parts), label=label, class_="chart")


# --- funnel bars --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    """One bar: a label, a fraction (with its interval, or None) and the text written after it."""

    label: str
    kind: str
    color: str
    value: float
    low: float | None
    high: float | None
    note: str


def funnel_bars(bars: Sequence[Bar], *, label: str, width: float = 880) -> str:
    """Horizontal bars of fractions (0 to 100 %) with interval whiskers, labelled on the left and the right."""
    label_w, note_w, row, top = 236.0, 170.0, 34.0, 8.0
    left = label_w + 10
    pw = width - left - note_w
    parts: list[str] = []
    ph = row * len(bars)

    def px(f: float) -> float:
        return left + pw * max(0.0, min(f, 1.0))

    for k in range(5):
        f = k / 4
        parts.append(el("line", x1=px(f), y1=top, x2=px(f), y2=top + ph, stroke=GRID, stroke_width=1))
        parts.append(text(px(f), top + ph + 16, f"{f:.0%}", size=10.5, fill=MUTED, anchor="middle"))
    for i, b in enumerate(bars):
        y = top + i * row
        parts.append(text(label_w, y + 15, fit(b.label, 12, label_w - 6, bold=True), size=12, anchor="end",
                          bold=True))
        parts.append(text(label_w, y + 28, fit(b.kind, 10, label_w - 6), size=10, fill=MUTED, anchor="end"))
        bw = px(b.value) - left
        parts.append(el("rect", x=left, y=y + 7, width=max(bw, 0.0), height=row - 14, fill=b.color, rx=2,
                        fill_opacity=0.85))
        if b.low is not None and b.high is not None and b.high > b.low:
            a, c, m = px(b.low), px(b.high), y + row / 2
            parts.append(el("path", d=f"M{_num(a)} {_num(m)}H{_num(c)}M{_num(a)} {_num(m - 6)}V{_num(m + 6)}"
                                      f"M{_num(c)} {_num(m - 6)}V{_num(m + 6)}", stroke=INK, stroke_width=1.5,
                            fill="none"))
        parts.append(text(px(max(b.value, b.high or 0.0)) + 8, y + row / 2 + 4, b.note, size=11))
    parts.append(el("line", x1=left, y1=top, x2=left, y2=top + ph, stroke=MUTED, stroke_width=1))
    return document(width, top + ph + 26, "".join(parts), label=label, class_="chart funnel-bars")


# --- the journey picture ------------------------------------------------------------------------------------

TILE_W, BAND_W, H_GAP, V_GAP = 260.0, 34.0, 96.0, 34.0
TB_GAP, TB_SIDE_GAP = 62.0, 40.0   # between layers and between tiles of a layer, top to bottom
TEXT_X = BAND_W + 10.0
TEXT_W = TILE_W - TEXT_X - 10.0
PORT_R, END_STUB = 5.0, 30.0
FIGURES = 11.0      # font size of the figure lines
LINE = 15.0         # their spacing
NAME_LINE = 17.0    # the spacing of a step name's two lines


@functools.lru_cache(maxsize=None)
def icon(name: str) -> str:
    """The inside of a bundled tile icon (24 x 24, white strokes) as SVG text, or '' when there is none."""
    path = resource_path("icons", f"{name}.svg")
    try:
        root = ET.fromstring(path.read_text(encoding="utf-8"))
    except (OSError, ET.ParseError):
        return ""
    keep = ("fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin")
    inner = ""
    for child in root:
        child.tag = child.tag.split("}")[-1]
        inner += ET.tostring(child, encoding="unicode").replace(' xmlns="http://www.w3.org/2000/svg"', "")
    style = "".join(f' {k}="{esc(root.get(k))}"' for k in keep if root.get(k) is not None)
    return f"<g{style}>{inner}</g>"


def wrap(parts: Sequence[str], size: float, width: float) -> list[str]:
    """Parts joined with ' · ' into lines no wider than `width` (a part too long alone is cut)."""
    lines: list[str] = []
    for p in parts:
        if lines and text_width(lines[-1] + " · " + p, size) <= width:
            lines[-1] += " · " + p
        else:
            lines.append(fit(p, size, width))
    return lines


def wrap_words(text: str, size: float, width: float, *, lines: int = 2, bold: bool = False) -> list[str]:
    """`text` broken at spaces into at most `lines` lines no wider than `width` (the last cut if need be)."""
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and text_width(f"{line} {words[0]}", size, bold=bold) <= width:
            line += " " + words.pop(0)
        if text_width(line, size, bold=bold) > width:  # one word too long for a line: cut it, keep the rest
            words.insert(0, line)
            break
        out.append(line)
    if words:
        out.append(fit(" ".join(words), size, width, bold=bold))
    return out or [""]


def _spread(index: int, count: int, length: float) -> float:
    """Where output `index` of `count` sits along an edge of `length` (evenly, away from the corners)."""
    if count <= 1:
        return length / 2.0
    edge = min(26.0, length / (count + 1))
    return edge + (length - 2 * edge) * index / (count - 1)


@dataclass
class _Tile:
    step: Step
    tile: TileType | None
    names: list[str]
    lines: list[str]
    ports: tuple[Port, ...]
    h: float
    x: float = 0.0
    y: float = 0.0

    def port(self, i: int, down: bool) -> tuple[float, float]:
        """Output `i`: on the right edge (left-to-right pictures) or the bottom edge (top-to-bottom)."""
        n = len(self.ports)
        if down:
            return self.x + _spread(i, n, TILE_W), self.y + self.h
        return self.x + TILE_W, self.y + _spread(i, n, self.h)

    def inlet(self, down: bool) -> tuple[float, float]:
        return (self.x + TILE_W / 2, self.y) if down else (self.x, self.y + self.h / 2)


def _links(tiles: Mapping[str, _Tile], down: bool) -> tuple[list[str], list[str]]:
    """Curves (or end stubs) from every output port, and the port labels of tiles with several outputs."""
    links: list[str] = []
    labels: list[str] = []
    for t in tiles.values():
        n = len(t.ports)
        for i, port in enumerate(t.ports):
            x1, y1 = t.port(i, down)
            target_id = t.step.outputs.get(port.id) or END
            target = tiles.get(target_id) if target_id != END else None
            if target is not None:
                x2, y2 = target.inlet(down)
                if down:  # the arrow's tip touches the inlet circle
                    y2 -= PORT_R - 1
                else:
                    x2 -= PORT_R - 1
                if down:
                    d = max(30.0, abs(y2 - y1) * 0.5)
                    curve = f"C{_num(x1)} {_num(y1 + d)} {_num(x2)} {_num(y2 - 7 - d)} {_num(x2)} {_num(y2 - 7)}"
                    arrow = f"M{_num(x2)} {_num(y2)}l-4.5 -9h9z"
                else:
                    d = max(36.0, abs(x2 - x1) * 0.5)
                    curve = f"C{_num(x1 + d)} {_num(y1)} {_num(x2 - 7 - d)} {_num(y2)} {_num(x2 - 7)} {_num(y2)}"
                    arrow = f"M{_num(x2)} {_num(y2)}l-9 -4.5v9z"
                links.append(el("path", d=f"M{_num(x1)} {_num(y1)}{curve}", fill="none", stroke=LINK,
                                stroke_width=1.6, class_="link"))
                links.append(el("path", d=arrow, fill=LINK))
            else:  # to the end of the journey: a stub and a ringed dot
                ex, ey = (x1, y1 + END_STUB + 6) if down else (x1 + END_STUB + 6, y1)
                links.append(el("path", d=f"M{_num(x1)} {_num(y1)}L{_num(ex)} {_num(ey)}", stroke=FAINT,
                                stroke_width=1.6, fill="none"))
                links.append(el("circle", cx=ex, cy=ey, r=6, fill=CARD, stroke=FAINT, stroke_width=1.6))
                links.append(el("circle", cx=ex, cy=ey, r=2.5, fill=FAINT))
            if n > 1:  # beside the port: right of it and below the edge (top-to-bottom), or above / below the
                # link for the upper / lower half of the ports (left-to-right), so that labels never collide
                lw = text_width(port.label, 10) + 6
                lx, ly = (x1 + 4, y1 + 4) if down else (x1 + PORT_R + 3, y1 - 16 if i < n / 2 else y1 + 3)
                labels.append(el("rect", x=lx, y=ly, width=lw, height=13, rx=3, fill="#f1f5f9", stroke=BORDER,
                                 stroke_width=0.8))
                labels.append(text(lx + 3, ly + 10, port.label, size=10, fill=MUTED))
    return links, labels


def _card(sid: str, t: _Tile, *, entry: bool, down: bool) -> str:
    color = t.tile.color if t.tile is not None else "#6b7280"
    kind = t.tile.label if t.tile is not None else f"Unknown type {t.step.type}"
    name = t.step.display_name
    h = t.h
    g = [el("title", esc(f"{name} ({kind})")),
         el("rect", x=0.0, y=1.5, width=TILE_W, height=h, rx=8, fill="#0f172a", fill_opacity=0.08),
         el("rect", x=0.0, y=0.0, width=TILE_W, height=h, rx=8, fill=CARD, stroke=BORDER, stroke_width=1),
         el("path", d=f"M8 0H{_num(BAND_W)}V{_num(h)}H8A8 8 0 0 1 0 {_num(h - 8)}V8A8 8 0 0 1 8 0z", fill=color),
         text(TEXT_X, 17, fit(kind, 10.5, TEXT_W, bold=True), size=10.5, fill=color, bold=True),
         *(text(TEXT_X, 35 + k * NAME_LINE, line, size=13, bold=True, class_="step-name")
           for k, line in enumerate(t.names))]
    glyph = icon(t.tile.icon) if t.tile is not None else ""
    if glyph:
        g.append(f'<g transform="translate({_num((BAND_W - 20) / 2)} {_num(h / 2 - 10)}) scale(0.8333)">{glyph}</g>')
    for k, line in enumerate(t.lines):
        g.append(text(TEXT_X, 54 + (len(t.names) - 1) * NAME_LINE + k * LINE, line, size=FIGURES,
                      fill=INK if k == 0 else MUTED))
    ix, iy = t.inlet(down)
    g.append(el("circle", cx=ix - t.x, cy=iy - t.y, r=PORT_R - 1, fill=CARD, stroke=LINK, stroke_width=1.4))
    for i in range(len(t.ports)):
        px, py = t.port(i, down)
        g.append(el("circle", cx=px - t.x, cy=py - t.y, r=PORT_R, fill=LINK, stroke=CARD, stroke_width=1.4))
    if entry:
        g.append(el("rect", x=0.0, y=-22.0, width=52, height=17, rx=8.5, fill="#16a34a"))
        g.append(text(26, -9.5, "Start", size=10.5, fill="#ffffff", anchor="middle", bold=True))
    return f'<g class="tile" data-step="{esc(sid)}" transform="translate({_num(t.x)} {_num(t.y)})">{"".join(g)}</g>'


def _place(tiles: Mapping[str, _Tile], grid: Mapping[str, tuple[float, float]], down: bool) -> float:
    """Place the tiles from their (layer, row) in the layered layout, left to right or top to bottom; returns
    the picture's width."""
    if down:
        tops: dict[float, float] = {}
        y = 0.0
        for layer in sorted({d for d, _ in grid.values()}):
            tops[layer] = y
            y += max(tiles[s].h for s, (d, _) in grid.items() if d == layer) + TB_GAP
        for sid, (layer, row) in grid.items():
            tiles[sid].x, tiles[sid].y = row * (TILE_W + TB_SIDE_GAP), tops[layer]
    else:
        pitch = max(t.h for t in tiles.values()) + V_GAP
        for sid, (layer, row) in grid.items():
            t = tiles[sid]
            t.x, t.y = layer * (TILE_W + H_GAP), row * pitch - t.h / 2
    ox = 16.0 - min(t.x for t in tiles.values())
    oy = 34.0 - min(t.y for t in tiles.values())  # room for the "Start" mark above the top tile
    for t in tiles.values():
        t.x, t.y = t.x + ox, t.y + oy
    return max(t.x for t in tiles.values()) + TILE_W + (30.0 if down else H_GAP * 0.6)


def journey_picture(journey: Journey, figures: Mapping[str, Sequence[Sequence[str]]], *, label: str,
                    max_width: float = 920.0) -> str:
    """The journey as tiles and links in the layered layout, each tile with its lines of figures: `figures[step
    id]` is a list of lines, each a list of parts joined with ' · ' (wrapped to fit).

    Left to right (as the designer shows it) when that fits in `max_width`, else top to bottom if that is
    narrower: a report is read on a page.
    """
    if not journey.steps:
        return document(300, 40, text(10, 24, "This journey has no steps.", fill=MUTED), label=label)
    tiles: dict[str, _Tile] = {}
    for sid, step in journey.steps.items():
        names = wrap_words(step.display_name, 13, TEXT_W, bold=True)
        lines = [ln for parts in figures.get(sid, ()) for ln in wrap(parts, FIGURES, TEXT_W)]
        ports = step.ports()
        h = max(84.0, 44.0 + (len(names) - 1) * NAME_LINE + LINE * len(lines) + 8.0, len(ports) * 20.0 + 12.0)
        tiles[sid] = _Tile(step, REGISTRY.get(step.type), names, lines, ports, h)
    grid = {sid: (p.x / LAYER_GAP, p.y / ROW_GAP) for sid, p in layered_layout(journey, "LR").items()}
    down = False
    width = _place(tiles, grid, down)
    if width > max_width:
        down = True
        tall = _place(tiles, grid, down)
        if tall >= width:
            down = False
            width = _place(tiles, grid, down)
        else:
            width = tall
    links, labels = _links(tiles, down)
    cards = [_card(sid, t, entry=sid == journey.entry, down=down) for sid, t in tiles.items()]
    height = max(t.y + t.h for t in tiles.values()) + (END_STUB + 20 if down else 22)
    return document(width, height, "".join(links) + "".join(cards) + "".join(labels), label=label,
                    class_="journey journey-down" if down else "journey")
