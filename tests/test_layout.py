"""Auto-layout: every step placed, no two on one spot, links run forward, yes above no."""

from __future__ import annotations

from hypothesis import given, settings

from app.codec.yamlio import read_journey_file
from app.model.layout import layered_layout
from app.model.registry import END
from app.resources import resource_path
from tests.strategies import journeys


@settings(max_examples=60)
@given(journeys(max_steps=14))
def test_layout_places_every_step_apart_and_links_run_forward(j) -> None:
    for direction in ("LR", "TB"):
        pos = layered_layout(j, direction)
        assert set(pos) == set(j.steps)
        assert len({(p.x, p.y) for p in pos.values()}) == len(pos)
        for src, _port, dst in j.links():
            if dst != END:
                a, b = pos[src], pos[dst]
                assert (b.x > a.x) if direction == "LR" else (b.y > a.y)


def test_announcement_layout_reads_left_to_right_with_yes_above_no() -> None:
    j, _, _ = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    pos = layered_layout(j)
    assert pos["reminder"].x < pos["wait5"].x < pos["opened"].x < pos["offer"].x
    assert pos["offer"].y < pos["sms"].y  # yes branch above no branch
