"""Undoable commands on journeys as a whole, and on the project's content and segments."""

from __future__ import annotations

from typing import Any

from app.errors import ModelError
from app.model.command_base import EditCommand
from app.model.content import Content
from app.model.editlog import EditLog
from app.model.journey import SETTINGS_FIELDS, Journey
from app.model.segment import Segment


SETTING_WORDS = {"name": "name", "description": "description", "target": "target", "audience": "audience",
                 "frequency": "frequency", "schedule": "schedule", "goal": "goal", "exit_when": "exit conditions",
                 "frequency_cap": "frequency cap", "version": "version",
                 "priority": "priority", "cap_exempt": "cap exemption"}


def settings_edit_text(fields: list[str]) -> str:
    """How the History panel names a settings change: 'Rename journey', 'Change schedule', 'Change audience and
    goal' (one name per edit, not 'Edit journey settings' for all of them)."""
    if fields == ["name"]:
        return "Rename journey"
    words = [SETTING_WORDS.get(f, f.replace("_", " ")) for f in fields]
    if not words:
        return "Edit journey settings"
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"Change {joined}"


class UpdateJourney(EditCommand):
    """Change journey-level settings (name, audience, schedule, frequency, goal, exits...)."""

    def __init__(self, journey_id: str, **settings: Any) -> None:
        unknown = set(settings) - set(SETTINGS_FIELDS)
        if unknown:
            raise ModelError(f"unknown journey setting(s): {', '.join(sorted(unknown))}")
        super().__init__(settings_edit_text([f for f in SETTINGS_FIELDS if f in settings]))
        self.journey_id = journey_id
        self.settings = settings

    def _apply(self, log: EditLog) -> None:
        j = log.journey(self.journey_id)
        name = self.settings.get("name", j.name)
        # Checked here because the project refuses a taken name only after the journey has changed the rest.
        if not isinstance(name, str) or not name.strip():
            raise ModelError("a journey needs a name")
        if name != j.name and any(o is not j and o.name == name for o in log.project.journeys):
            raise ModelError(f"a journey named '{name}' is already in the project")
        log.update(j.id, **self.settings)


class UpdateProjectSettings(EditCommand):
    """Change project-level settings, e.g. the trusted keys (`text` names the change in the History panel)."""

    def __init__(self, text: str, **settings: Any) -> None:
        super().__init__(text)
        self.settings = settings

    def _apply(self, log: EditLog) -> None:
        log.update_settings(**self.settings)


class AddJourney(EditCommand):
    """Add a journey to the project (the same object comes back on redo)."""

    def __init__(self, journey: Journey, index: int | None = None) -> None:
        super().__init__(f"Add journey '{journey.name}'")
        self.journey, self.index = journey, index

    def _apply(self, log: EditLog) -> None:
        log.add_journey(self.journey, self.index)


class RemoveJourney(EditCommand):
    """Remove a journey; undo puts it back, same id, steps and place in the journey list."""

    def __init__(self, journey_id: str) -> None:
        super().__init__("Delete journey")
        self.journey_id = journey_id

    def _apply(self, log: EditLog) -> None:
        log.remove_journey(self.journey_id)


class DuplicateJourney(EditCommand):
    """Add a copy of a journey (new id, name "<name> (copy)" unless given) right after it."""

    def __init__(self, journey_id: str, name: str | None = None) -> None:
        super().__init__("Duplicate journey")
        self.journey_id, self.name = journey_id, name
        self.copy: Journey | None = None

    def _apply(self, log: EditLog) -> None:
        source = log.journey(self.journey_id)
        if self.copy is None:
            name = self.name or log.project.unique_journey_name(f"{source.name} (copy)")
            self.copy = source.clone(id=log.project.new_journey_id(), name=name)
        index = [j.id for j in log.project.journeys].index(source.id) + 1
        log.add_journey(self.copy, index)


# --- content and segments -------------------------------------------------------------------------------------

class PutContent(EditCommand):
    """Add content, or replace the content of that name."""

    def __init__(self, content: Content) -> None:
        super().__init__(f"Save content '{content.name}'")
        self.content = content

    def _apply(self, log: EditLog) -> None:
        log.put_content(self.content)


class RemoveContent(EditCommand):
    """Delete content by name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Delete content '{name}'")
        self.name = name

    def _apply(self, log: EditLog) -> None:
        log.remove_content(self.name)


class PutSegment(EditCommand):
    """Add a segment, or replace the segment of that name."""

    def __init__(self, segment: Segment) -> None:
        super().__init__(f"Save segment '{segment.name}'")
        self.segment = segment

    def _apply(self, log: EditLog) -> None:
        log.put_segment(self.segment)


class RemoveSegment(EditCommand):
    """Delete a segment by name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Delete segment '{name}'")
        self.name = name

    def _apply(self, log: EditLog) -> None:
        log.remove_segment(self.name)
