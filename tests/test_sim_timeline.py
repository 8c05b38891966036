"""The replay's timeline widget and the canvas drawing of a replayed moment (status lines, link flows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.model.registry import END
from designer.canvas.scene import FLOW_MAX, FLOW_MIN
from designer.simulation.timeline import DAY, SLIDER_UNIT, Timeline, moment_text
from tests.canvas_helpers import Canvas, make_canvas

pytestmark = pytest.mark.gui
T0 = 1_796_000_400  # 2026-11-30 21:00 UTC (any moment will do)


@pytest.fixture
def timeline(qtbot) -> Timeline:
    w = Timeline()
    qtbot.addWidget(w)
    w.set_range(T0, T0 + 10 * DAY)
    return w


def test_range_and_clamping(timeline: Timeline, qtbot) -> None:
    assert timeline.time() == T0
    seen: list[int] = []
    timeline.timeChanged.connect(seen.append)
    timeline.set_time(T0 + 3 * DAY + 3_600)
    timeline.set_time(T0 - 50)
    timeline.set_time(T0 + 99 * DAY)
    assert seen == [T0 + 3 * DAY + 3_600, T0, T0 + 10 * DAY]
    assert timeline.slider.value() == 10 * DAY // SLIDER_UNIT
    assert timeline.label.text().startswith("Day 11 ")


def test_the_scrubber_moves_time(timeline: Timeline) -> None:
    timeline.slider.setValue(2 * DAY // SLIDER_UNIT)
    assert timeline.time() == T0 + 2 * DAY
    assert timeline.label.text() == moment_text(T0 + 2 * DAY, T0)


def test_playing_advances_by_speed_times_real_time_and_stops_at_the_horizon(timeline: Timeline) -> None:
    timeline.speed.setCurrentIndex(0)  # an hour per second
    assert timeline.speed_seconds() == 3_600
    timeline.play()
    assert timeline.is_playing()
    timeline.advance(500.0)  # half a real second
    assert timeline.time() == T0 + 1_800
    timeline.speed.setCurrentIndex(timeline.speed.count() - 1)  # a week per second
    assert timeline.speed_seconds() == 7 * DAY
    timeline.advance(2_000.0)
    assert timeline.time() == T0 + 10 * DAY
    assert not timeline.is_playing()


def test_play_runs_on_the_event_loop(timeline: Timeline, qtbot) -> None:
    timeline.speed.setCurrentIndex(timeline.speed.count() - 1)
    with qtbot.waitSignal(timeline.playingChanged, timeout=5000) as stopped:
        timeline.play()
        qtbot.waitUntil(lambda: timeline.time() > T0, timeout=3000)
    assert stopped.args == [True]
    qtbot.waitUntil(lambda: not timeline.is_playing(), timeout=5000)  # ten days at a week a second
    assert timeline.time() == timeline.horizon


def test_step_buttons_go_to_the_next_and_previous_events(qtbot) -> None:
    events = [T0 + 100, T0 + 5_000, T0 + DAY]
    w = Timeline()
    qtbot.addWidget(w)
    w.set_range(T0, T0 + 2 * DAY, next_event=lambda t: next((e for e in events if e > t), None),
                prev_event=lambda t: next((e for e in reversed(events) if e < t), None))
    w.forward_button.click()
    assert w.time() == T0 + 100
    w.forward_button.click()
    w.forward_button.click()
    assert w.time() == T0 + DAY
    w.forward_button.click()  # nothing more happens: the end
    assert w.time() == T0 + 2 * DAY
    w.back_button.click()
    assert w.time() == T0 + DAY
    w.start_button.click()
    assert w.time() == T0


def test_an_empty_range_disables_the_controls(qtbot) -> None:
    w = Timeline()
    qtbot.addWidget(w)
    w.set_range(T0, T0)
    w.play()
    assert not w.is_playing()
    assert not w.play_button.isEnabled() and not w.slider.isEnabled()


@pytest.fixture
def canvas(qtbot, tmp_path: Path) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    yield c
    c.doc.close()


def test_flows_draw_on_links_and_survive_a_rebuild(canvas: Canvas) -> None:
    scene = canvas.scene
    edges = scene.edge_items()
    first, second = edges[0], edges[1]
    flows = {first.key: 1_000, second.key: 250}
    scene.set_flows(flows, scale=1_000)
    assert scene.flow_of(*first.key) == 1_000
    assert first._flow_width == pytest.approx(FLOW_MAX)
    assert second._flow_width == pytest.approx(FLOW_MIN + (FLOW_MAX - FLOW_MIN) * 0.5)
    untouched = [e for e in edges if e.key not in flows]
    assert all(e.flow == 0 and e._flow_width == 0.0 for e in untouched)
    assert "1,000 contacts passed so far" in first.tooltip()
    # the label widens the link's bounds so that it is repainted
    assert first.boundingRect().contains(first._flow_label_rect())
    scene.rebuild()
    assert scene.flow_of(*first.key) == 1_000
    scene.set_flows(None)
    assert all(e.flow is None and e._flow_width == 0.0 for e in scene.edge_items())
    assert "passed" not in scene.edge_item(*first.key).tooltip()


def test_status_lines_and_their_notes(canvas: Canvas) -> None:
    scene = canvas.scene
    tile = scene.tile_items()[0]
    summary = tile.status_text
    scene.set_status_lines({tile.step_id: "12 waiting · 300 sent"}, {tile.step_id: ["sent 300 <b>"]})
    assert tile.status_text == "12 waiting · 300 sent"
    assert "sent 300 &lt;b&gt;" in tile.tooltip()
    scene.set_status_lines({})
    assert tile.status_text == summary
    assert END not in [t.step_id for t in scene.tile_items()]
