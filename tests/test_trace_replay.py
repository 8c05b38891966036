"""One contact's story in the run review's replay, driven offscreen as a reviewer would: run a simulation, open
"Contact's story…" from the replay bar, pick a contact who took a split's path, read the timeline with its
reasons, play the replay and see the contact's current step highlighted, click a step to move the replay there;
a screenshot is saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

from app.codec.yamlio import read_journey_file
from app.services import import_journey
from app.store import ProjectFile
from designer.main_window import MainWindow
from tests.test_sim_workspace import start_run

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]
FIXTURE = Path(__file__).parent / "fixtures" / "story" / "branches.yaml"
SHOTS = os.environ.get("JOURNEY_STUDIO_SHOTS")  # a folder to keep the screenshots in (default: the test's tmp_path)


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    path = tmp_path / "story.jstudio"
    pf = ProjectFile.create(path)
    import_journey(pf.project, *read_journey_file(FIXTURE))
    pf.close()
    w = MainWindow.open(path)
    assert w is not None
    w.resize(1500, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_the_story_panel_tells_a_picked_contact_and_follows_the_replay(qtbot, window: MainWindow,
                                                                       tmp_path: Path) -> None:
    ws = window.simulation
    run_id = start_run(qtbot, window, contacts=2_000, replicas=1, seed=5)
    assert ws.replay_bar.story_button.isEnabled()
    ws.replay_bar.story_button.click()
    panel = ws.story_panel
    assert panel is not None and ws.docks["story"].isVisible()
    qtbot.waitUntil(lambda: panel.stories is not None, timeout=60_000)

    labels = [panel.paths.itemText(i) for i in range(panel.paths.count())]
    pick = next(i for i, text in enumerate(labels) if text.startswith("Offer split → path A"))
    panel.paths.setCurrentIndex(pick)
    panel.paths.activated.emit(pick)
    qtbot.waitUntil(lambda: panel.story is not None, timeout=60_000)
    story = panel.story
    assert story is not None and story.agrees and story.run == run_id
    first = story.contact
    split = next(i for i, s in enumerate(story.steps) if s.step == "split")
    assert story.steps[split].outcome == "path A"
    text = panel.timeline.toPlainText()
    assert "Offer split" in text and "Drew 0." in text and "path A" in text
    assert "Clicked shop within 2 days?" in text and "it happened at" in text
    assert f"Contact {first}" in panel.heading.text() and "agrees with the run's trace" in panel.heading.text()
    assert panel.audience.text().startswith("It was in the audience ('Shoppers') at the start")

    # The replay moves: the step the contact is at is highlighted (and marked), the others not.
    ws.replay_bar.timeline.set_time(story.steps[split].entered)
    assert panel.current == max(i for i, s in enumerate(story.steps) if s.entered <= story.steps[split].entered)
    assert "▶ " + story.steps[panel.current].name in panel.timeline.toPlainText()
    ws.replay_bar.timeline.set_time(story.steps[0].entered)
    assert story.steps[panel.current].entered <= story.steps[0].entered

    # Clicking a step of the story moves the replay to when the contact got there.
    panel.timeline.anchorClicked.emit(QUrl(f"step:{split}"))
    assert ws.replay_bar.timeline.time() == story.steps[split].entered
    assert window.scene.selected_step_ids() == ["split"]  # and the canvas shows that step
    shots = Path(SHOTS) if SHOTS else tmp_path
    assert window.grab().save(str(shots / "trace_replay_window.png"))
    assert panel.grab().save(str(shots / "trace_replay_panel.png"))

    # Picking again takes the next contact who took that path; a typed id that is not in the run says so.
    panel.paths.activated.emit(pick)
    qtbot.waitUntil(lambda: panel.story is not None and panel.story.contact != first, timeout=60_000)
    panel.contact.setText("999999")
    panel.show_button.click()
    qtbot.waitUntil(lambda: "is not in run" in panel.heading.text(), timeout=60_000)
    assert "contact 999999 is not in run" in panel.heading.text()


def test_the_story_follows_the_run_opened_next(qtbot, window: MainWindow) -> None:
    ws = window.simulation
    start_run(qtbot, window, contacts=300, replicas=1, seed=1)
    ws.replay_bar.story_button.click()
    panel = ws.story_panel
    qtbot.waitUntil(lambda: panel.stories is not None, timeout=60_000)
    before = panel.stories
    second = start_run(qtbot, window, contacts=400, replicas=1, seed=2)
    qtbot.waitUntil(lambda: panel.stories is not None and panel.stories is not before, timeout=60_000)
    assert panel.run_id == second and len(panel.stories.contacts()) == 400
