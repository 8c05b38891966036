"""The designer's dockable panels: palette, properties, journey settings, problems, project browser, and the
template gallery and content dialog they open. Panels edit only through commands given to Document.run()."""

from designer.panels.browser import ProjectBrowser
from designer.panels.content_dialog import ContentDialog
from designer.panels.journey_settings import JourneySettingsPanel
from designer.panels.palette import PalettePanel
from designer.panels.problems import ProblemsPanel
from designer.panels.properties import PropertiesPanel
from designer.panels.templates import TemplateGallery, journey_from_template_command, new_journey_from_template

__all__ = ["ProjectBrowser", "ContentDialog", "JourneySettingsPanel", "PalettePanel", "ProblemsPanel",
           "PropertiesPanel", "TemplateGallery", "journey_from_template_command",
           "new_journey_from_template"]
