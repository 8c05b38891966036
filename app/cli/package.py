"""`journey-studio package`: hand a journey that may go live to the runner as a checked `.jpkg` file;
`verify` checks a package, `keygen` makes a signing key pair, `keys` keeps the team's trusted keys (in a project
or a keyring file), `import-package` brings a package back into a project for review.

Exit status: 0 done; 1 the journey may not go live (every reason listed) or the package is refused (one line
saying why); 2 bad input (no such project, a key file that cannot be used...).
Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from app.cli.in_flight_options import echo_plan, read_in_flight
from app.cli.main import EXIT_FINDINGS, OUTPUT, STDOUT, _open, cli, fail, in_flight_options
from app.cli.trust_options import trust_line, trust_options, trust_policy
from app.package.signing import SIGNING_KEY_ENV
from app.words import count


_MAX_CHANGE_LINES = 50  # what `package` lists of the changes since the last version (the rest is counted)


def _refuse(message: str, lines: list[str] | None = None) -> NoReturn:
    """List the reasons, say why in one line, exit with status 1."""
    for line in lines or []:
        click.echo(f"  {line}", err=True)
    click.echo(f"journey-studio: error: {message}", err=True)
    sys.exit(EXIT_FINDINGS)


def _open_for_package(project: str, *, freezing: bool) -> Any:
    """The project: writable to freeze a version; else writable if possible, to record the milestone."""
    if freezing:
        return _open(project, write=True)
    from app.store import ProjectFile
    p = Path(project)
    if not p.exists():
        fail(f"{p}: no such project file (create one with: journey-studio new {p})")
    return ProjectFile.open(p)  # read-only when another window writes it: the package is made, the milestone not


@cli.command("package")
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--out", required=True, type=OUTPUT, help="The package file to write (.jpkg).")
@click.option("--version", "version", type=int,
              help="Package this released (frozen) version instead of freezing the current draft.")
@click.option("--sign-key", type=click.Path(dir_okay=False), envvar=SIGNING_KEY_ENV, show_envvar=True,
              help="Sign the package with this Ed25519 private key (made by: journey-studio keygen).")
@click.option("--by", "by", help="Who packages it, as the manifest records it (default: your user name).")
@in_flight_options
def package(project: str, journey_name: str, out: str, version: int | None, sign_key: str | None,
            by: str | None, in_flight: str | None, moves: tuple[str, ...], leave: tuple[str, ...],
            finish: tuple[str, ...], in_flight_from: str | None, forecast_at: str | None, forecast_seed: int) -> None:
    """Freeze a journey that passes the check as a release and write it as a package for the live runner.

    Refused, with every reason listed, while the check for errors finds errors or any content it sends is not
    Ready to send; then nothing is frozen or written. A draft unchanged since its last released version is
    packaged as that version again (nothing is frozen); a changed one becomes the next version, and what changed
    is listed. `--in-flight` (with `--move`, `--leave` and `--finish`) says what happens to the contacts still on
    the previous version; the package carries it (`run --replaces` carries it out), and `--in-flight-from`
    previews it with the counts of the previous version's run.
    """
    import getpass

    from app.package.build import package_journey
    from app.package.errors import KeyFileError, PackageError, PackageRefused
    from app.package.keyring import check_name
    from app.package.signing import key_id, load_private_key
    from app.package.trust import project_keyring
    if out == STDOUT:
        fail("--out -: a package is a zip file, not text for standard output; give its file name (e.g. journey.jpkg)")
    key = load_private_key(sign_key) if sign_key else None
    try:
        by = check_name(by if by is not None else getpass.getuser())
    except KeyFileError as e:
        fail(f"--by: {e}")
    flight = read_in_flight(in_flight, moves, leave, finish, in_flight_from, forecast_at, forecast_seed)
    choice = flight.choice
    with _open_for_package(project, freezing=version is None) as pf:
        ring = project_keyring(pf.project)
        signer = ring.by_id(key_id(key.public_key())) if key is not None else None
        try:
            result = package_journey(pf, journey_name, out, version=version, signing_key=key, packaged_by=by,
                                     signer_name=signer.name if signer is not None else "", in_flight=choice)
        except PackageRefused as e:
            _refuse(str(e), e.lines)
        except PackageError as e:
            fail(str(e))
        old_journey = None
        if choice is not None and result.changes is not None:  # the version the contacts in flight are on
            old_journey = pf.read_version(pf.project.journey(journey_name).id, result.changes.old)[0]
    if result.reused:
        click.echo(f"'{result.journey_name}' is unchanged since version {result.version} was released: packaged "
                   f"version {result.version} again (nothing was frozen)", err=True)
    if result.froze:
        click.echo(f"Froze '{result.journey_name}' as version {result.version}; edits now make version "
                   f"{result.version + 1}", err=True)
    if result.changes is not None and not result.reused:
        click.echo(result.changes.headline(), err=True)
        lines = result.changes.lines()
        for line in lines[:_MAX_CHANGE_LINES]:
            click.echo(f"  {line}", err=True)
        if len(lines) > _MAX_CHANGE_LINES:
            click.echo(f"  ... and {len(lines) - _MAX_CHANGE_LINES} more", err=True)
    if choice is not None:
        from app.package.in_flight import from_plain
        from app.package.read import read_package
        pkg = read_package(Path(out))  # what the package just written says
        echo_plan(from_plain(pkg.manifest["in_flight"], out), pkg.journey, old_journey, flight)
    if ring and signer is None:
        click.echo(f"Note: the project trusts {count(len(ring), 'key')}; this package is "
                   + ("not signed" if key is None else "signed by a key it does not trust")
                   + ": a check with those keys refuses it unless --allow-unsigned", err=True)
    from app.package.keyring import fingerprint
    signed = "unsigned" if not result.signed_by else \
        f"signed by {repr(signer.name) + ' ' if signer is not None else ''}{fingerprint(result.signed_by)}"
    run = f", approved run {result.approved_run}" if result.approved_run is not None else ", no approved run"
    click.echo(f"Wrote {out}: '{result.journey_name}' version {result.version}, {signed}{run}")
    click.echo(f"SHA-256 {result.sha256}")


def _summary(pkg: Any) -> list[str]:
    from app.package.build import run_line
    mf = pkg.manifest
    j = mf["journey"]
    members = ", ".join(mf["members"])
    v = mf.get("validation") or {}
    made = pkg.packaged
    changes = mf.get("changes") or {}
    lines = [f"{pkg.path}: OK",
             f"  journey       {j['name']}, version {j['version']} (id {j['id']})",
             f"  created       {mf['created_at']} by Journey Studio {mf['app']['version']}"
             + (f", project '{mf['project']}'" if mf.get("project") else ""),
             f"  packaged by   {made['by'] or 'not recorded'}, at {made['at']}",
             f"  members       {members}: sizes and SHA-256 match the manifest",
             f"  check         {count(v.get('errors', 0), 'error')}, {count(v.get('warnings', 0), 'warning')}",
             f"  signed by     {trust_line(pkg)}",
             f"  approved run  {run_line(pkg.approved_run) if pkg.approved_run else 'none'}"]
    if changes:
        n: dict[str, Any] = changes["counts"] if isinstance(changes.get("counts"), dict) else {}
        lines.append(f"  changes       since version {changes.get('from_version')}: "
                     f"{count(n.get('steps_added', len(changes.get('steps_added') or [])), 'step')} added, "
                     f"{n.get('steps_removed', len(changes.get('steps_removed') or []))} removed, "
                     f"{n.get('steps_changed', len(changes.get('steps_changed') or {}))} changed"
                     + (", settings changed" if changes.get("settings_changed") else ""))
    if mf.get("in_flight"):
        from app.package.in_flight import from_plain
        lines.append(f"  in flight     {from_plain(mf['in_flight'], str(pkg.path)).summary()}")
    lines.append(f"  SHA-256       {pkg.sha256}")
    return lines


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@trust_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and the signer as JSON.")
def verify(file: str, public_key: str | None, keyrings: tuple[str, ...], require_signature: bool,
           allow_unsigned: bool, as_json: bool) -> None:
    """Check a package: every member against its manifest, the format, the signature; exit status 1 if refused.

    With any trusted key (--public-key, --keyring), the package must be signed by one of them."""
    from app.package.errors import PackageError
    from app.package.read import read_package
    trust = trust_policy(public_key, keyrings, require_signature, allow_unsigned)
    try:
        pkg = read_package(file, trust=trust)
    except PackageError as e:
        _refuse(str(e))
    if as_json:
        click.echo(json.dumps({"ok": True, "sha256": pkg.sha256, "signed_by": pkg.signed_by,
                               "signature_trusted": pkg.signature_trusted, "signer_name": pkg.signer_name,
                               "allowed_unsigned": pkg.allowed_unsigned, "manifest": pkg.manifest}, indent=2))
        return
    for line in _summary(pkg):
        click.echo(line)


@cli.command()
@click.option("--out", required=True, type=OUTPUT,
              help="The private key file to write; the public key goes to OUT.pub.")
def keygen(out: str) -> None:
    """Make an Ed25519 key pair to sign packages (the private key is readable by you only)."""
    from app.package.signing import generate_key_pair, public_key_path
    if out == STDOUT:
        fail("--out -: a key pair is two files, not text for standard output; give the private key's file name")
    from app.package.keyring import fingerprint
    kid = generate_key_pair(out)
    click.echo(f"Wrote the signing key {out} (keep it secret) and its public key {public_key_path(out)}")
    click.echo(f"Fingerprint {fingerprint(kid)} (trust it with: journey-studio keys add PROJECT "
               f"{public_key_path(out)} --name NAME)")
    click.echo(f"Key id {kid}")


@cli.command("import-package")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--as", "as_name", help="Import the journey under this name.")
@click.option("--rename", is_flag=True, help="When the project has a journey of that name, import it as 'NAME (2)'.")
@click.option("--replace", is_flag=True, help="When the project has a journey of that name, replace it.")
@trust_options
def import_package(project: str, file: str, as_name: str | None, rename: bool, replace: bool,
                   public_key: str | None, keyrings: tuple[str, ...], require_signature: bool,
                   allow_unsigned: bool) -> None:
    """Check a package and add its journey, content and segments to a project, to review what was shipped.

    The project's trusted keys (journey-studio keys) are trusted, with --public-key and --keyring. The journey
    arrives as its released version with the approved run the package carries; a journey of the same name is
    refused unless --rename or --replace."""
    from app.package.errors import PackageError
    from app.package.importing import import_package_into
    from app.package.read import read_package
    from app.package.keyring import merged
    from app.package.trust import TrustPolicy, project_keyring
    if rename and replace:
        fail("--rename and --replace contradict each other: give one")
    given = trust_policy(public_key, keyrings, require_signature, allow_unsigned)  # key files: before the project
    with _open(project, write=True) as pf:
        trust = TrustPolicy(merged([project_keyring(pf.project), given.keyring]), require_signature, allow_unsigned)
        try:
            pkg = read_package(file, trust=trust)
        except PackageError as e:
            _refuse(str(e))
        report = import_package_into(pf, pkg, name=as_name, on_clash="rename" if rename else
                                     "replace" if replace else "refuse")
    for line in report:
        click.echo(line)


# --- trusted keys -----------------------------------------------------------------------------------------------

def _is_project(target: str) -> bool:
    from app.errors import ProjectFileError
    from app.store.opening import check_header
    p = Path(target)
    if not p.exists():
        if p.suffix.lower() == ".jstudio":
            fail(f"{p}: no such project file (create one with: journey-studio new {p})")
        return False
    try:
        check_header(p)
    except ProjectFileError:
        return False
    return True


@cli.group("keys")
def keys_group() -> None:
    """The trusted keys packages must be signed with: a project's (kept in its file) or a keyring file's.

    TARGET is a project file (.jstudio) or a keyring file (made by `keys add` when missing; the runner reads it
    with --keyring or JOURNEY_STUDIO_KEYRING)."""


def _ring_of(target: str) -> Any:
    from app.package.keyring import read_keyring
    from app.package.trust import project_keyring
    if _is_project(target):
        from app.store.plain_read import read_project
        return project_keyring(read_project(Path(target)))
    if not Path(target).exists():
        fail(f"{target}: no such keyring or project file (make a keyring with: journey-studio keys add {target} "
             "KEYFILE.pub --name NAME)")
    return read_keyring(target)


def _change_ring(target: str, change: Any) -> Any:
    """Apply `change(ring)` to TARGET's keyring and keep it; returns what `change` returns."""
    from app.package.keyring import Keyring, read_keyring
    from app.package.trust import project_keyring, set_project_keyring
    if _is_project(target):
        with _open(target, write=True) as pf:
            ring = project_keyring(pf.project)
            out = change(ring)
            set_project_keyring(pf.project, ring)
        return out
    ring = read_keyring(target) if Path(target).exists() else Keyring()
    out = change(ring)
    ring.write(target)
    return out


@keys_group.command("add")
@click.argument("target", type=click.Path(dir_okay=False))
@click.argument("public_key", type=click.Path(dir_okay=False))
@click.option("--name", help="Who holds the key (default: the key file's name).")
def keys_add(target: str, public_key: str, name: str | None) -> None:
    """Trust a public key (KEYFILE.pub, made by journey-studio keygen): packages signed by it are accepted."""
    from app.package.keyring import TrustedKey
    from app.package.manifest import utc_now
    from app.package.signing import load_public_key
    key = TrustedKey(name if name is not None else Path(public_key).name.removesuffix(".pub"),
                     load_public_key(public_key), utc_now())
    added = _change_ring(target, lambda ring: ring.add(key))
    click.echo(f"Trusted '{added.name}': {added.fingerprint}")
    click.echo("Compare this fingerprint with the key holder's (journey-studio keys list) before you rely on it.")


@keys_group.command("list")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(target: str, as_json: bool) -> None:
    """The trusted keys, with their fingerprints (groups of four hexadecimal digits, to compare aloud)."""
    ring = _ring_of(target)
    if as_json:
        click.echo(json.dumps([{**k.to_plain(), "fingerprint": k.fingerprint} for k in ring], indent=2))
        return
    if not ring:
        click.echo(f"{target}: no trusted keys (packages are checked only against the key they name; add one "
                   "with: journey-studio keys add TARGET KEYFILE.pub --name NAME)")
        return
    width = max(len(k.name) for k in ring)
    for k in ring:
        click.echo(f"{k.name:<{width}}  {k.fingerprint}" + (f"  added {k.added_at}" if k.added_at else ""))


@keys_group.command("remove")
@click.argument("target", type=click.Path(dir_okay=False))
@click.argument("key")
def keys_remove(target: str, key: str) -> None:
    """Stop trusting a key, given by its name or its fingerprint (or its first 8 or more digits)."""
    if not Path(target).exists():
        fail(f"{target}: no such keyring or project file")
    removed = _change_ring(target, lambda ring: ring.remove(key))
    click.echo(f"No longer trusted: '{removed.name}' {removed.fingerprint}")
