"""File > Import Journey or Package: a journey file, another tool's journey (a Mautic campaign export, a Dynamics
365 customer journey or a Dittofeed journey: mapped onto our tiles, then a report of each source step) or a
package (.jpkg, checked first), added as one undoable edit. A journey of the same name is never replaced or
renamed silently: a dialog asks (import under a free name, replace it, or cancel), as `import` and
`import-package` take --rename / --replace. A package is checked against the project's trusted keys; one that
no trusted key signed is imported only when the user says so. An imported package arrives as its released
version with its approved run and its provenance (milestones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox, QWidget

from app import APP_NAME
from app.errors import JourneyStudioError

if TYPE_CHECKING:
    from app.package.read import Package
    from designer.main_window import MainWindow


def ask_clash(parent: QWidget, name: str, free_name: str) -> str | None:
    """Ask what to do with a journey whose name the project already has: "rename", "replace" or None (cancel)."""
    box = QMessageBox(QMessageBox.Icon.Question, APP_NAME, f"The project already has a journey named '{name}'.",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText(f"Import it as '{free_name}', or replace the project's journey with it? (Replacing can be "
                           "undone.)")
    rename = box.addButton(f"Import as '{free_name}'", QMessageBox.ButtonRole.AcceptRole)
    replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(rename)
    box.exec()
    clicked = box.clickedButton()
    return "rename" if clicked is rename else "replace" if clicked is replace else None


def ask_untrusted(parent: QWidget, problem: str) -> bool:
    """Ask whether to import a package that no trusted key of the project signed (the refusal says why)."""
    answer = QMessageBox.warning(
        parent, APP_NAME, f"{problem}\n\nImport it anyway, for review? (Its milestones will say it was not signed "
                          "by a trusted key.)",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def read_checked_package(parent: QWidget, project: Any, path: str) -> Package | None:
    """The package at `path`, checked against the project's trusted keys; when only the signature stands in the
    way, the user is asked (None: declined). A package refused for anything else raises PackageError."""
    from app.package.errors import PackageError
    from app.package.read import read_package
    from app.package.trust import TrustPolicy, project_keyring
    ring = project_keyring(project)
    try:
        return read_package(path, trust=TrustPolicy(ring))
    except PackageError as strict:
        if not ring:
            raise
        loose = read_package(path, trust=TrustPolicy(ring, allow_unsigned=True))  # any other damage: raised here
        return loose if ask_untrusted(parent, str(strict)) else None


def import_journey_file(w: MainWindow, path: str) -> None:
    """Import a journey file, or a package (checked first; what was shipped, for review)."""
    from app.model.command_base import MacroCommand
    from app.model.project_commands import AddJourney, PutContent, PutSegment, RemoveJourney
    doc = w.document
    package = None
    result = None
    try:
        if path.lower().endswith(".jpkg"):
            from app.package.importing import plan_package_import
            package = read_checked_package(w, doc.project, path)
            if package is None:
                return
            name = package.journey.name
        else:  # a journey file, or another tool's journey (Mautic, Dynamics 365, Dittofeed): detected
            from app.importers import fit_to_project, read_import  # here: YAML loads when a file is read
            from app.services import plan_import
            result = read_import(path)
            fit_to_project(result, doc.project)
            journey, contents, segments = result.journey, result.contents, result.segments
            name = journey.name
        on_clash = "refuse"
        if doc.project.find_journey(name) is not None:
            choice = ask_clash(w, name, doc.project.unique_journey_name(name))
            if choice is None:
                return
            on_clash = choice
        if package is not None:
            plan, report = plan_package_import(doc.project, package, on_clash=on_clash)  # type: ignore[arg-type]
        else:
            plan = plan_import(doc.project, journey, contents, segments, rename=on_clash == "rename",
                               replace=on_clash == "replace")
            report = plan.report
    except JourneyStudioError as e:
        QMessageBox.warning(w, APP_NAME, f"The journey could not be imported.\n\n{e}")
        return
    commands: list[Any] = [PutContent(c) for c in plan.content] + [PutSegment(s) for s in plan.segments]
    if plan.replaces is not None:
        commands.append(RemoveJourney(plan.replaces.id))
    commands.append(AddJourney(plan.journey))
    if not doc.run(MacroCommand(f"Import {plan.journey.name}", commands)):
        return
    doc.set_current_journey(plan.journey.id)
    if result is not None and result.foreign:  # what became of each source step, and why some did not map
        from designer.import_report import show_import_report
        show_import_report(w, result, plan.journey.name, report)
    if package is None:
        return
    from app.package.importing import record_package_import
    try:
        report = report[:-1] + record_package_import(doc.file, plan.journey.id, package) + report[-1:]
    except JourneyStudioError as e:  # the journey is in; only its release and record of where it came from are not
        doc.message.emit(f"The import was not recorded in full: {e}")
    doc.milestonesChanged.emit(plan.journey.id)
    doc.runsChanged.emit()  # the approved run it brought
    QMessageBox.information(w, APP_NAME, "\n".join(report))


__all__ = ["ask_clash", "ask_untrusted", "import_journey_file", "read_checked_package"]
