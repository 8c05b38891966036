"""`journey-studio package`: hand a journey that may go live to the runner as a checked `.jpkg` file;
`verify` checks a package, `keygen` makes a signing key pair, `import-package` brings a package back into a
project for review.

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

from app.cli.main import EXIT_FINDINGS, OUTPUT, STDOUT, _open, cli, fail
from app.package.signing import PUBLIC_KEY_ENV, SIGNING_KEY_ENV
from app.words import count


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
def package(project: str, journey_name: str, out: str, version: int | None, sign_key: str | None) -> None:
    """Freeze a journey that passes the check as a release and write it as a package for the live runner.

    Refused, with every reason listed, while the check for errors finds errors or any content it sends is not
    Ready to send; then nothing is frozen or written.
    """
    from app.package.build import package_journey
    from app.package.errors import PackageError, PackageRefused
    from app.package.signing import load_private_key
    if out == STDOUT:
        fail("--out -: a package is a zip file, not text for standard output; give its file name (e.g. journey.jpkg)")
    key = load_private_key(sign_key) if sign_key else None
    with _open_for_package(project, freezing=version is None) as pf:
        try:
            result = package_journey(pf, journey_name, out, version=version, signing_key=key)
        except PackageRefused as e:
            _refuse(str(e), e.lines)
        except PackageError as e:
            fail(str(e))
    if result.froze:
        click.echo(f"Froze '{result.journey_name}' as version {result.version}; edits now make version "
                   f"{result.version + 1}", err=True)
    signed = f"signed by {result.signed_by}" if result.signed_by else "unsigned"
    run = f", approved run {result.approved_run}" if result.approved_run is not None else ", no approved run"
    click.echo(f"Wrote {out}: '{result.journey_name}' version {result.version}, {signed}{run}")
    click.echo(f"SHA-256 {result.sha256}")


def _summary(pkg: Any) -> list[str]:
    from app.package.build import run_line
    mf = pkg.manifest
    j = mf["journey"]
    members = ", ".join(mf["members"])
    if pkg.signed_by is None:
        signed = "unsigned"
    elif pkg.signature_trusted:
        signed = f"{pkg.signed_by} (the configured key)"
    else:
        signed = f"{pkg.signed_by} (not checked against a trusted key: give --public-key)"
    v = mf.get("validation") or {}
    lines = [f"{pkg.path}: OK",
             f"  journey       {j['name']}, version {j['version']} (id {j['id']})",
             f"  created       {mf['created_at']} by Journey Studio {mf['app']['version']}"
             + (f", project '{mf['project']}'" if mf.get("project") else ""),
             f"  members       {members}: sizes and SHA-256 match the manifest",
             f"  check         {count(v.get('errors', 0), 'error')}, {count(v.get('warnings', 0), 'warning')}",
             f"  signed by     {signed}",
             f"  approved run  {run_line(pkg.approved_run) if pkg.approved_run else 'none'}",
             f"  SHA-256       {pkg.sha256}"]
    return lines


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--public-key", type=click.Path(dir_okay=False), envvar=PUBLIC_KEY_ENV, show_envvar=True,
              help="The public key (KEYFILE.pub) the package must be signed with, when it is signed.")
@click.option("--require-signature", is_flag=True, help="Refuse a package that is not signed.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and the signer as JSON.")
def verify(file: str, public_key: str | None, require_signature: bool, as_json: bool) -> None:
    """Check a package: every member against its manifest, the format, the signature; exit status 1 if refused."""
    from app.package.errors import PackageError
    from app.package.read import read_package
    try:
        pkg = read_package(file, public_key=public_key, require_signature=require_signature)
    except PackageError as e:
        _refuse(str(e))
    if as_json:
        click.echo(json.dumps({"ok": True, "sha256": pkg.sha256, "signed_by": pkg.signed_by,
                               "signature_trusted": pkg.signature_trusted, "manifest": pkg.manifest}, indent=2))
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
    kid = generate_key_pair(out)
    click.echo(f"Wrote the signing key {out} (keep it secret) and its public key {public_key_path(out)}")
    click.echo(f"Key id {kid}")


@cli.command("import-package")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--as", "as_name", help="Import the journey under this name.")
@click.option("--public-key", type=click.Path(dir_okay=False), envvar=PUBLIC_KEY_ENV, show_envvar=True,
              help="The public key the package must be signed with, when it is signed.")
@click.option("--require-signature", is_flag=True, help="Refuse a package that is not signed.")
def import_package(project: str, file: str, as_name: str | None, public_key: str | None,
                   require_signature: bool) -> None:
    """Check a package and add its journey, content and segments to a project, to review what was shipped."""
    from app.package.errors import PackageError
    from app.package.importing import import_package_into
    from app.package.read import read_package
    try:  # checked before the project is opened for writing
        pkg = read_package(file, public_key=public_key, require_signature=require_signature)
    except PackageError as e:
        _refuse(str(e))
    with _open(project, write=True) as pf:
        report = import_package_into(pf, pkg, name=as_name)
    for line in report:
        click.echo(line)
