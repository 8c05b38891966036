"""Smoke-test a built Journey Studio: run the BUILT program as a user would, from its own command line.

    .venv/bin/python packaging/smoke_test.py packaging/dist/journey-studio/journey-studio

With a fresh, empty home for the program (JOURNEY_STUDIO_HOME in a temporary folder) and Qt offscreen:

1. `--version` and `--help`;
2. the designer on a first start: it builds the demo project and opens it (`--smoke-test REPORT`, see
   journey_studio_main.py: the main window is shown, reported with a screenshot, and closed);
3. the designer again: a second start reopens the demo (the start-up time a user sees every day); and later
   the designer given a project file, as the file associations start it;
4. `validate` on the demo project, and on a project made by the program from a bundled template (`new`, `import`:
   the Alembic migrations and the templates inside the build; the template's dates moved to start tomorrow);
5. `simulate` of that journey over 1,000 synthetic contacts (NumPy, the simulator, the run saved in the project)
   and `runs`;
6. `keygen`, `package` (signed) and `verify`: the journey as a package for the live runner;
7. the live runner: `population` (20 contacts), `run` of the package on the bundled Temporal dev server with an
   SMTP sink on the loopback (needs aiosmtpd, from the test extra; `--no-runner` skips it), and `status`.

Prints each step with its time and the build's size; exit status 0 when every step passed. Works on Linux, macOS
and Windows builds (run it on the system that made the build).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = "announcement"
JOURNEY = "Product announcement"


class Failed(Exception):
    pass


def run(program: Path, args: list[str], env: dict[str, str], *, expect: int = 0, timeout: float = 300,
        cwd: Path | None = None) -> tuple[str, float]:
    start = time.monotonic()
    try:
        done = subprocess.run([str(program), *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise Failed(f"`{' '.join(args)}` did not finish in {timeout:.0f} s") from e
    seconds = time.monotonic() - start
    if done.returncode != expect:
        raise Failed(f"`{' '.join(args)}` exited {done.returncode} (expected {expect}):\n"
                     f"{done.stdout[-1500:]}\n{done.stderr[-3000:]}")
    return done.stdout, seconds


def dated(template: Path, work: Path) -> Path:
    """The template with its schedule moved to start tomorrow (a journey whose start has passed cannot go live),
    its wait until nine days later and its end two months later."""
    start = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    text = template.read_text(encoding="utf-8")
    moves = {r"start: \d{4}-\d\d-\d\dT": f"start: {start.isoformat()}T",
             r"until: \d{4}-\d\d-\d\dT": f"until: {(start + datetime.timedelta(days=9)).isoformat()}T",
             r"end: \d{4}-\d\d-\d\dT": f"end: {(start + datetime.timedelta(days=61)).isoformat()}T"}
    for pattern, replacement in moves.items():
        text, n = re.subn(pattern, replacement, text)
        if n != 1:
            raise Failed(f"{template.name}: expected one '{pattern}' to move, found {n}")
    out = work / template.name
    out.write_text(text, encoding="utf-8")
    return out


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def bundled(program: Path, *parts: str) -> Path:
    """A data file inside the build (PyInstaller 6 puts data in _internal/, macOS in Contents/Resources)."""
    for base in (program.parent / "_internal", program.parent.parent / "Resources", program.parent):
        if (base.joinpath(*parts)).exists():
            return base.joinpath(*parts)
    raise Failed(f"{'/'.join(parts)} is not in the build next to {program}")


def live_run(program: Path, env: dict[str, str], work: Path, project: Path, package: Path, key: Path,
             step) -> None:
    """The live runner: 20 contacts in the project, the signed package run on the bundled Temporal dev server
    (time 10^6 times faster), its email sent to an SMTP sink on the loopback, then `status`."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink
    except ImportError:
        print("  --   live runner skipped: no aiosmtpd for the SMTP sink (pip install -e '.[test]')")
        return
    step("population (20 contacts)", ["population", str(project), "--contacts", "20", "--seed", "1"],
         expect_words("Generated 20 contacts"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        step("run the package live (Temporal dev server, time x10^6)",
             ["run", str(package), "--contacts-db", str(project), "--smtp", f"127.0.0.1:{port}",
              "--sms-url", "http://127.0.0.1:9/", "--time-scale", "1000000", "--public-key", f"{key}.pub",
              "--require-signature"], expect_words("enrolled", "completed"), timeout=600)
    finally:
        controller.stop()
    step("status", ["status", str(package)], expect_words("enrolled"))


def expect_words(*words: str):
    def check(out: str) -> str:
        missing = [w for w in words if w not in out]
        if missing:
            raise Failed(f"expected {missing} in the output:\n{out[-2000:]}")
        return next((line.strip() for line in out.splitlines() if words[0] in line), "")
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test a built Journey Studio.")
    parser.add_argument("program", type=Path, help="the built executable")
    parser.add_argument("--report-dir", type=Path, default=Path(__file__).resolve().parent / "smoke",
                        help="where the reports and screenshots go (default: packaging/smoke, ignored by git)")
    parser.add_argument("--contacts", type=int, default=1000, help="contacts to simulate (default 1,000)")
    parser.add_argument("--no-runner", action="store_true",
                        help="skip the live run (it starts the bundled Temporal dev server; needs aiosmtpd, from "
                             "the test extra, for a loopback SMTP sink)")
    args = parser.parse_args(argv)
    program = args.program.resolve()
    if not program.is_file():
        print(f"smoke test: {program}: no such program (build it with packaging/build.py)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="js-smoke-"))
    reports = args.report_dir.resolve()
    reports.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", JOURNEY_STUDIO_HOME=str(home), HOME=str(work / "user"),
               XDG_CONFIG_HOME=str(work / "user" / ".config"), XDG_DATA_HOME=str(work / "user" / ".local" / "share"),
               XDG_CACHE_HOME=str(work / "user" / ".cache"), XDG_STATE_HOME=str(work / "user" / ".local" / "state"))
    results: list[tuple[str, float, str]] = []
    folder = program.parent.parent.parent if sys.platform == "darwin" else program.parent
    print(f"smoke test of {program}\n  build folder: {folder_size(folder) / 2**20:.1f} MiB", flush=True)

    def step(name: str, args_: list[str], check, **kw) -> str:
        out, seconds = run(program, args_, env, **kw)
        detail = check(out) or ""
        results.append((name, seconds, detail))
        print(f"  ok   {seconds:6.2f} s  {name}{': ' + detail if detail else ''}", flush=True)
        return out

    def expect_in(*words: str):
        def check(out: str) -> str:
            missing = [w for w in words if w not in out]
            if missing:
                raise Failed(f"expected {missing} in the output:\n{out[-2000:]}")
            return ""
        return check

    def designer(name: str, report: Path, project: Path | None = None) -> dict:
        step(name, ["--smoke-test", str(report)] + ([str(project)] if project else []), lambda out: None,
             timeout=600)
        data = json.loads(report.read_text(encoding="utf-8"))
        if not data.get("ok"):
            raise Failed(f"{name}: {data.get('error')}")
        expected = project.name if project else "Demo project.jstudio"
        if not data["project"].endswith(expected) or not data["journeys"]:
            raise Failed(f"{name}: did not open {expected} with its journeys: {data}")
        if not data.get("frozen"):
            raise Failed(f"{name}: the program reports it is not the packaged build: {data}")
        if "build" not in data.get("build", "") or "development" in data.get("build", ""):
            raise Failed(f"{name}: the build's commit and date are not baked in (Help > About): {data.get('build')}")
        detail = (f"'{data['title']}', {len(data['journeys'])} journeys, window after "
                  f"{data['seconds_to_window']:.2f} s in-process, {data['build']}")
        name_, seconds, _ = results[-1]
        results[-1] = (name_, seconds, detail)
        print(f"       {detail}", flush=True)
        return data

    try:
        from_program = step("--version", ["--version"], expect_in("journey-studio, version"))
        results[-1] = ("--version", results[-1][1], from_program.strip())
        print(f"       {from_program.strip()}")
        step("--help", ["--help"], expect_in("validate", "simulate", "package"))
        designer("designer, first start (builds and opens the demo project)", reports / "first-start.json")
        demo = home / "data" / "Demo project.jstudio"
        if not demo.exists():
            raise Failed(f"the first start made no demo project at {demo}")
        designer("designer, second start (reopens the demo project)", reports / "second-start.json")
        step("validate the demo project", ["validate", str(demo)], expect_in(JOURNEY))
        project = work / "sample.jstudio"
        template = dated(bundled(program, "resources", "templates", f"{TEMPLATE}.yaml"), work)
        step("new project (Alembic migrations)", ["new", str(project)], expect_in("Created"))
        step("import a bundled template", ["import", str(project), str(template)], lambda out: None)
        step("validate the sample project", ["validate", str(project), "--journey", JOURNEY, "--json"],
             lambda out: f"{json.loads(out)['errors']} errors, {json.loads(out)['warnings']} warnings")
        designer("designer opens a project given to it (as a double-clicked file is)", reports / "project.json",
                 project)
        run_json = work / "run.json"
        step(f"simulate {args.contacts:,} contacts",
             ["simulate", str(project), "--journey", JOURNEY, "--contacts", str(args.contacts), "--seed", "7",
              "--json", str(run_json)], lambda out: None, timeout=900)
        effect = json.loads(run_json.read_text(encoding="utf-8")).get("effect", {})
        if not effect:
            raise Failed(f"simulate wrote no effect in {run_json}")
        event = max(sorted(effect), key=lambda e: abs(effect[e]["incremental"]["mean"]))
        inc = effect[event]["incremental"]
        results[-1] = (results[-1][0], results[-1][1],
                       f"largest effect: '{event}' {inc['mean']:+.4f} per entered contact "
                       f"(95% {inc['low']:+.4f} to {inc['high']:+.4f})")
        print(f"       {results[-1][2]}")
        step("runs", ["runs", str(project)], expect_in(JOURNEY))
        key = work / "team.key"
        step("keygen", ["keygen", "--out", str(key)], lambda out: None)
        package = work / "launch.jpkg"
        step("package (signed)", ["package", str(project), "--journey", JOURNEY, "--out", str(package),
                                  "--sign-key", str(key)], lambda out: None)
        step("verify", ["verify", str(package), "--public-key", f"{key}.pub", "--require-signature"],
             lambda out: None)
        if args.no_runner:
            print("  --   live runner skipped (--no-runner)")
        else:
            live_run(program, env, work, project, package, key, step)
    except Failed as e:
        print(f"  FAIL {e}", file=sys.stderr)
        print(f"smoke test FAILED (work folder kept: {work})", file=sys.stderr)
        return 1
    (reports / "smoke-summary.json").write_text(json.dumps(
        {"program": str(program), "size_bytes": folder_size(folder),
         "steps": [{"step": n, "seconds": round(s, 3), "detail": d} for n, s, d in results]}, indent=2),
        encoding="utf-8")
    print(f"smoke test passed: {len(results)} steps; reports and screenshots in {reports}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
