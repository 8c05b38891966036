# Runtime hook of the packaged Journey Studio, in place of PyInstaller's own pyi_rth_pyside6 (journey_studio.spec
# takes that one out): the same settings, but PySide6.QtCore is no longer imported at start. The stock hook imports
# it to register a qt.conf, which loads Qt and ICU (about 0.3 s) before every command, `--version` included, while
# only the designer uses Qt. Here the qt.conf step runs right after the program first imports PySide6.QtCore.
import importlib.abc
import os
import sys


def _journey_studio_qt_rthook():
    from _pyi_rth_utils import is_macos_app_bundle, prepend_path_to_environment_variable
    from _pyi_rth_utils import qt as qt_rth_utils

    qt_rth_utils.ensure_single_qt_bindings_package("PySide6")
    if sys.platform.startswith("win"):
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6")
    else:
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6", "Qt")
    os.environ["QT_PLUGIN_PATH"] = os.path.join(pyqt_path, "plugins")
    if is_macos_app_bundle:
        pyqt_path_res = os.path.normpath(
            os.path.join(sys._MEIPASS, "..", "Resources", os.path.relpath(pyqt_path, sys._MEIPASS)))
        os.environ["QML2_IMPORT_PATH"] = os.pathsep.join([os.path.join(pyqt_path_res, "qml"),
                                                          os.path.join(pyqt_path, "qml")])
    else:
        os.environ["QML2_IMPORT_PATH"] = os.path.join(pyqt_path, "qml")
    if sys.platform.startswith("win"):
        prepend_path_to_environment_variable(sys._MEIPASS, "PATH")
    if sys.platform == "darwin" and not is_macos_app_bundle:
        prepend_path_to_environment_variable(sys._MEIPASS, "DYLD_LIBRARY_PATH")

    class QtConfWhenQtCoreLoads(importlib.abc.MetaPathFinder):
        """Finds nothing itself: wraps the loader of PySide6.QtCore so that the qt.conf step follows its import."""

        done = False

        def find_spec(self, name, path=None, target=None):
            if name != "PySide6.QtCore" or self.done:
                return None
            self.done = True  # once (not removed from sys.meta_path: the import machinery is iterating it)
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                qt_rth_utils.create_embedded_qt_conf("PySide6", pyqt_path)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, QtConfWhenQtCoreLoads())


_journey_studio_qt_rthook()
del _journey_studio_qt_rthook
