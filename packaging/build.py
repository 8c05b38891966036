"""Build the self-contained Journey Studio for this system with PyInstaller, then smoke-test the result.

    .venv/bin/pip install -e '.[packaging]'       # PyInstaller (pinned in pyproject.toml)
    .venv/bin/python packaging/build.py           # -> packaging/dist/journey-studio/journey-studio, then smoke test
    .venv/bin/python packaging/build.py --out /tmp/js-build --no-temporal --archive
    .venv/bin/python packaging/build.py --commit HEAD   # from a clean export of a commit, not the working tree

Everything it writes goes under --out (default: packaging/, in build/ and dist/, which git ignores): PyInstaller's
work folder, the program folder, build-summary.json (size, build time, the build's commit) and, with --archive,
the folder packed for this system with what installs it (Linux: a .tar.gz with packaging/linux/install.sh, the
.desktop entry and the MIME types). Windows installers and the macOS .dmg are made from the program folder by the
commands in packaging/README.md (Inno Setup, hdiutil), on those systems.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "journey_studio.spec"
NAME = "journey-studio"


def folder_size(path: Path) -> tuple[int, int]:
    """Bytes and files under a folder (symbolic links counted as links)."""
    total = files = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def program_path(dist: Path) -> Path:
    """The built executable in the dist folder."""
    if sys.platform == "darwin":
        return dist / "Journey Studio.app" / "Contents" / "MacOS" / NAME
    return dist / NAME / (NAME + (".exe" if sys.platform == "win32" else ""))


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from app import __version__
    return __version__


def make_archive(dist: Path, out: Path) -> Path:
    """Linux: the program folder with the desktop integration and its installer, as one .tar.gz."""
    arch = platform.machine().lower()
    top = f"{NAME}-{version()}-linux-{arch}"
    target = out / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(dist / NAME, arcname=f"{top}/{NAME}")
        for f in ("install.sh", "journey-studio.desktop", "journey-studio-mime.xml"):
            tar.add(HERE / "linux" / f, arcname=f"{top}/{f}")
        tar.add(HERE / "icons", arcname=f"{top}/icons",
                filter=lambda info: None if info.name.endswith(".py") or "__pycache__" in info.name else info)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where build/ and dist/ go (default: packaging/, ignored by git)")
    parser.add_argument("--no-temporal", action="store_true",
                        help="leave out the Temporal CLI (about 150 MB; `run` then needs `temporal` on PATH or "
                             "--temporal HOST:PORT)")
    parser.add_argument("--clean", action="store_true", help="start from an empty PyInstaller cache")
    parser.add_argument("--no-smoke", action="store_true", help="build only, no smoke test")
    parser.add_argument("--archive", action="store_true", help="also pack the result (Linux: .tar.gz)")
    parser.add_argument("--commit", metavar="REV",
                        help="build a commit (git archive REV, in a temporary folder) instead of the working tree: "
                             "what a release is built from, unaffected by uncommitted edits")
    args = parser.parse_args(argv)

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is not installed: .venv/bin/pip install -e '.[packaging]'", file=sys.stderr)
        return 2
    out = args.out.resolve()
    work, dist = out / "build", out / "dist"
    env = dict(os.environ, JOURNEY_STUDIO_WITH_TEMPORAL="0" if args.no_temporal else "1")
    source, spec, export = ROOT, SPEC, None
    if args.commit:
        commit = subprocess.run(["git", "rev-parse", "--short=10", f"{args.commit}^{{commit}}"], cwd=ROOT,
                                capture_output=True, text=True)
        if commit.returncode != 0:
            print(f"no such commit: {args.commit}: {commit.stderr.strip()}", file=sys.stderr)
            return 2
        export = Path(tempfile.mkdtemp(prefix="js-source-"))
        archive = subprocess.run(["git", "archive", "--format=tar", args.commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(export, filter="data")
        source, spec = export, export / "packaging" / SPEC.name
        env["JOURNEY_STUDIO_BUILD_COMMIT"] = commit.stdout.strip()
        print(f"building commit {commit.stdout.strip()} from {export}", flush=True)
    cmd = [sys.executable, "-m", "PyInstaller", str(spec), "--noconfirm", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work)]
    if args.clean:
        cmd.append("--clean")
    print("$", " ".join(cmd), flush=True)
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=source, env=env)
    finally:
        if export is not None:
            shutil.rmtree(export, ignore_errors=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        print(f"build failed (exit status {done.returncode}) after {seconds:.0f} s", file=sys.stderr)
        return done.returncode
    program = program_path(dist)
    folder = program.parent if sys.platform != "darwin" else dist / "Journey Studio.app"
    size, files = folder_size(folder)
    info = json.loads((work / "journey_studio" / "generated" / "build_info.json").read_text(encoding="utf-8"))
    summary = {
        "program": str(program),
        "build_seconds": round(seconds, 1),
        "size_bytes": size,
        "size_mib": round(size / 2**20, 1),
        "files": files,
        "with_temporal": not args.no_temporal,
        "build": info,
        "python": platform.python_version(),
    }
    if args.archive and sys.platform.startswith("linux"):
        start = time.monotonic()
        archive = make_archive(dist, out)
        summary["archive"] = str(archive)
        summary["archive_mib"] = round(archive.stat().st_size / 2**20, 1)
        summary["archive_seconds"] = round(time.monotonic() - start, 1)
    (out / "build-summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"built {program} in {seconds:.0f} s: {summary['size_mib']} MiB in {files} files"
          f" (build {info.get('commit')}, {info.get('date')})", flush=True)
    if args.no_smoke:
        return 0
    smoke = [sys.executable, str(HERE / "smoke_test.py"), str(program), "--report-dir", str(out / "smoke")]
    print("$", " ".join(smoke), flush=True)
    return subprocess.run(smoke, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
