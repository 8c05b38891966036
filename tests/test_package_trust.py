"""Trust by default (issue 16, item 1): the team's trusted keys in a project or a keyring file, and the packages
`verify`, `import-package` and `run` refuse once any trusted key is configured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.package.build import package_journey
from app.package.errors import KeyFileError, PackageError
from app.package.keyring import Keyring, TrustedKey, fingerprint, read_keyring
from app.package.read import read_package
from app.package.signing import generate_key_pair, load_private_key, load_public_key
from app.package.trust import TrustPolicy, policy, project_keyring, set_project_keyring
from app.store import ProjectFile
from app.store.plain_read import read_project
from tests.cli_helpers import run
from tests.test_package import NAME, entries, make_project, remanifest, rezip

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """Two key pairs, 'team' and 'stray': name -> key id."""
    return {n: generate_key_pair(tmp_path / f"{n}.key") for n in ("team", "stray")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


def packages(project: Path, tmp_path: Path) -> dict[str, Path]:
    """The journey packaged unsigned, signed by the team key, and signed by the stray key."""
    out = {}
    with ProjectFile.open(project) as pf:
        for label, key in (("unsigned", None), ("team", "team"), ("stray", "stray")):
            out[label] = tmp_path / f"{label}.jpkg"
            package_journey(pf, NAME, out[label], packaged_by="ana", signer_name="Ana",
                            signing_key=load_private_key(tmp_path / f"{key}.key") if key else None)
    return out


# --- the keyring ------------------------------------------------------------------------------------------------

def test_fingerprints_are_grouped_as_people_compare_them(tmp_path: Path, keys: dict[str, str]) -> None:
    key = TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub"))
    assert re.fullmatch(r"([0-9A-F]{4} ){7}[0-9A-F]{4}", key.fingerprint)
    assert key.fingerprint.replace(" ", "").lower() == keys["team"].removeprefix("ed25519:")
    assert fingerprint(keys["team"]) == key.fingerprint


def test_keyring_add_find_remove(tmp_path: Path, keys: dict[str, str]) -> None:
    ring = Keyring()
    ana = ring.add(TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub")))
    ring.add(TrustedKey("Bo", load_public_key(tmp_path / "stray.key.pub")))
    with pytest.raises(KeyFileError, match="already trusted, as 'Ana'"):
        ring.add(TrustedKey("Ana again", load_public_key(tmp_path / "team.key.pub")))
    generate_key_pair(tmp_path / "third.key")
    with pytest.raises(KeyFileError, match="already named 'Bo'"):
        ring.add(TrustedKey("bo", load_public_key(tmp_path / "third.key.pub")))
    with pytest.raises(KeyFileError, match="control characters"):
        ring.add(TrustedKey("A\nB", load_public_key(tmp_path / "team.key.pub")))
    # by name, by fingerprint in any spelling, by an unambiguous start of 8 digits or more
    assert ring.find("ana") is ana
    assert ring.find(ana.fingerprint.lower()) is ana and ring.find(ana.key_id) is ana
    assert ring.find(ana.fingerprint[:9]) is ana
    with pytest.raises(KeyFileError, match="no trusted key is named or has the fingerprint 'abc'"):
        ring.find("abc")
    assert ring.remove("Ana") is ana and [k.name for k in ring] == ["Bo"]


def test_keyring_file_round_trip_and_damage_in_one_line(tmp_path: Path, keys: dict[str, str]) -> None:
    ring = Keyring([TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub"), "2026-12-01T09:00:00Z")])
    ring.write(tmp_path / "team.keyring")
    again = read_keyring(tmp_path / "team.keyring")
    assert [(k.name, k.key_id, k.added_at) for k in again] == [("Ana", keys["team"], "2026-12-01T09:00:00Z")]
    # a public key file reads as a keyring of one key
    assert [k.key_id for k in read_keyring(tmp_path / "team.key.pub")] == [keys["team"]]
    doc = json.loads((tmp_path / "team.keyring").read_text())
    doc["keys"][0]["key_id"] = keys["stray"]
    (tmp_path / "edited.keyring").write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match=r"edited\.keyring: trusted key 1: its key_id is not that of its public key"):
        read_keyring(tmp_path / "edited.keyring")
    for text, says in (("{", "not valid JSON"), ('{"format": "x"}', "its format is 'x'"),
                       ('{"format": "journey-keyring/1", "keys": [{"public_key": "AAAA"}]}', "32 bytes")):
        (tmp_path / "bad.keyring").write_text(text)
        with pytest.raises(KeyFileError, match=says):
            read_keyring(tmp_path / "bad.keyring")
    (tmp_path / "big.keyring").write_bytes(b" " * (300 * 1024))
    with pytest.raises(KeyFileError, match="too large to be a keyring"):
        read_keyring(tmp_path / "big.keyring")


def test_a_project_keeps_its_trusted_keys_in_its_file(project: Path, tmp_path: Path, keys: dict[str, str]) -> None:
    with ProjectFile.open(project) as pf:
        assert not project_keyring(pf.project)
        set_project_keyring(pf.project, Keyring([TrustedKey("Ana", load_public_key(tmp_path / "team.key.pub"))]))
    with ProjectFile.open(project) as pf:
        assert [k.key_id for k in project_keyring(pf.project)] == [keys["team"]]
        pf.project.update_settings(default_timezone="Europe/Paris")  # another setting keeps the keys
    assert [k.name for k in project_keyring(read_project(project))] == ["Ana"]  # the sqlite3-only reader too


# --- what is refused ----------------------------------------------------------------------------------------------

def test_with_a_trusted_key_unsigned_and_otherwise_signed_packages_are_refused(project: Path, tmp_path: Path,
                                                                             keys: dict[str, str]) -> None:
    pkgs = packages(project, tmp_path)
    team = policy(public_keys=[tmp_path / "team.key.pub"])
    with pytest.raises(PackageError, match=r"unsigned\.jpkg: refused: the package is not signed, and trusted keys "
                                           r"are configured \('team.key' [0-9A-F ]+\); sign it"):
        read_package(pkgs["unsigned"], trust=team)
    with pytest.raises(PackageError, match=f"stray.jpkg: refused: signed by key {fingerprint(keys['stray'])}, which "
                                           "is not a trusted key"):
        read_package(pkgs["stray"], trust=team)
    ok = read_package(pkgs["team"], trust=team)
    assert ok.signature_trusted and ok.signer_name == "team.key" and not ok.allowed_unsigned
    # allowed explicitly: accepted, and said so
    loose = TrustPolicy(team.keyring, allow_unsigned=True)
    assert read_package(pkgs["unsigned"], trust=loose).allowed_unsigned
    stray = read_package(pkgs["stray"], trust=loose)
    assert stray.allowed_unsigned and not stray.signature_trusted and stray.signed_by == keys["stray"]
    # no trusted key: a signature only proves the manifest was not changed; requiring one is an error
    assert not read_package(pkgs["stray"]).signature_trusted
    with pytest.raises(PackageError, match="a signature is required .* but no trusted key is configured"):
        read_package(pkgs["stray"], trust=TrustPolicy(require_signature=True))
    with pytest.raises(KeyFileError, match="contradict"):
        TrustPolicy(team.keyring, require_signature=True, allow_unsigned=True)


def test_the_manifest_records_who_signed_and_when_and_a_removed_signature_is_refused(
        project: Path, tmp_path: Path, keys: dict[str, str]) -> None:
    pkgs = packages(project, tmp_path)
    pkg = read_package(pkgs["team"])
    assert pkg.manifest["signed"] == {"key_id": keys["team"], "by": "Ana", "at": pkg.created_at}
    assert pkg.manifest["packaged"] == {"by": "ana", "at": pkg.created_at}
    assert pkg.signed == {"key_id": keys["team"], "by": "Ana", "at": pkg.created_at}
    # the downgrade of the issue: signature removed; refused even where unsigned packages are allowed
    files = entries(pkgs["team"])
    del files["signature.json"]
    stripped = rezip(tmp_path / "stripped.jpkg", files)
    for trust in (None, TrustPolicy(policy(public_keys=[tmp_path / "team.key.pub"]).keyring, allow_unsigned=True)):
        with pytest.raises(PackageError, match="the manifest says it was signed by key .* but signature.json is "
                                               r"missing \(removed after signing\?\)"):
            read_package(stripped, trust=trust)
    # the manifest's signer cannot be changed either: the signature covers it
    relabelled = remanifest(pkgs["team"], tmp_path / "relabelled.jpkg",
                            signed={"key_id": keys["team"], "by": "Mallory", "at": pkg.created_at})
    with pytest.raises(PackageError, match="bad signature"):
        read_package(relabelled)


# --- the command line ---------------------------------------------------------------------------------------------

def test_keys_add_list_remove_on_a_project_and_a_keyring_file(project: Path, tmp_path: Path, capsys: Cap,
                                                              keys: dict[str, str]) -> None:
    fp = fingerprint(keys["team"])
    code, stdout, _ = run(capsys, "keys", "add", project, tmp_path / "team.key.pub", "--name", "Ana")
    assert code == 0 and stdout.splitlines()[0] == f"Trusted 'Ana': {fp}"
    code, stdout, _ = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "s.jpkg",
                          "--sign-key", tmp_path / "team.key")
    assert code == 0 and f"signed by 'Ana' {fp}, no approved run" in stdout
    code, _, stderr = run(capsys, "keys", "add", project, tmp_path / "team.key.pub", "--name", "Bo")
    assert code == 2 and stderr.count("\n") == 1 and "already trusted, as 'Ana'" in stderr
    code, stdout, _ = run(capsys, "keys", "list", project)
    assert code == 0 and re.fullmatch(rf"Ana  {fp}  added \S+Z\n", stdout)
    code, stdout, _ = run(capsys, "keys", "list", project, "--json")
    assert json.loads(stdout)[0]["fingerprint"] == fp
    ring = tmp_path / "runner.keyring"
    code, _, _ = run(capsys, "keys", "add", ring, tmp_path / "team.key.pub")  # a new keyring file
    assert code == 0 and [k.name for k in read_keyring(ring)] == ["team.key"]
    code, stdout, _ = run(capsys, "keys", "remove", project, fp[:9])
    assert code == 0 and stdout == f"No longer trusted: 'Ana' {fp}\n"
    code, stdout, _ = run(capsys, "keys", "list", project)
    assert "no trusted keys" in stdout
    code, _, stderr = run(capsys, "keys", "remove", project, "Ana")
    assert code == 2 and "no trusted key is named or has the fingerprint 'Ana'" in stderr
    code, _, stderr = run(capsys, "keys", "list", tmp_path / "missing.jstudio")
    assert code == 2 and "no such project file" in stderr
    code, _, stderr = run(capsys, "keys", "list", tmp_path / "missing.keyring")
    assert code == 2 and "no such keyring or project file" in stderr
    code, _, stderr = run(capsys, "keys", "add", project, tmp_path / "team.key")
    assert code == 2 and "this is a private key" in stderr


def test_verify_with_keys_from_a_keyring_a_project_or_the_environment(project: Path, tmp_path: Path, capsys: Cap,
                                                                      keys: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pkgs = packages(project, tmp_path)
    run(capsys, "keys", "add", project, tmp_path / "team.key.pub", "--name", "Ana")
    run(capsys, "keys", "add", tmp_path / "team.keyring", tmp_path / "team.key.pub", "--name", "Ana")
    for source in (project, tmp_path / "team.keyring"):
        code, stdout, _ = run(capsys, "verify", pkgs["team"], "--keyring", source, "--require-signature")
        assert code == 0, source
        line = next(x for x in stdout.splitlines() if x.startswith("  signed by"))
        assert line.startswith(f"  signed by     'Ana' {fingerprint(keys['team'])}, a trusted key, at 20")
        assert "  packaged by   ana, at 20" in stdout
        code, _, stderr = run(capsys, "verify", pkgs["unsigned"], "--keyring", source)
        assert code == 1 and "refused: the package is not signed, and trusted keys are configured" in stderr
        code, _, stderr = run(capsys, "verify", pkgs["stray"], "--keyring", source)
        assert code == 1 and "which is not a trusted key" in stderr and stderr.count("\n") == 1
    code, stdout, _ = run(capsys, "verify", pkgs["stray"], "--keyring", project, "--allow-unsigned")
    assert code == 0 and "NOT a trusted key (accepted: --allow-unsigned)" in stdout
    monkeypatch.setenv("JOURNEY_STUDIO_KEYRING", str(tmp_path / "team.keyring"))
    code, _, stderr = run(capsys, "verify", pkgs["unsigned"])
    assert code == 1 and "not signed" in stderr
    monkeypatch.delenv("JOURNEY_STUDIO_KEYRING")
    monkeypatch.setenv("JOURNEY_STUDIO_PUBLIC_KEY", str(tmp_path / "team.key.pub"))  # as before, and now enforced
    code, _, stderr = run(capsys, "verify", pkgs["unsigned"])
    assert code == 1 and "not signed" in stderr
    code, _, stderr = run(capsys, "verify", pkgs["unsigned"], "--require-signature", "--allow-unsigned")
    assert code == 2 and "contradict each other" in stderr


def test_import_package_trusts_the_projects_keys(project: Path, tmp_path: Path, capsys: Cap,
                                                 keys: dict[str, str]) -> None:
    pkgs = packages(project, tmp_path)
    review = tmp_path / "review.jstudio"
    run(capsys, "new", review)
    run(capsys, "keys", "add", review, tmp_path / "team.key.pub", "--name", "Ana")
    code, _, stderr = run(capsys, "import-package", review, pkgs["unsigned"])
    assert code == 1 and "not signed, and trusted keys are configured" in stderr
    code, _, stderr = run(capsys, "import-package", review, pkgs["stray"])
    assert code == 1 and "not a trusted key" in stderr
    with ProjectFile.open(review) as pf:
        assert pf.project.journeys == []  # nothing was imported
    code, stdout, _ = run(capsys, "import-package", review, pkgs["team"])
    assert code == 0, stdout
    code, stdout, _ = run(capsys, "import-package", review, pkgs["stray"], "--allow-unsigned", "--rename")
    assert code == 0
    with ProjectFile.open(review) as pf:
        signed = [d for k, _, d in pf.milestones(NAME) if k == "signed"]
        assert signed == [f"signed by the trusted key 'Ana' {fingerprint(keys['team'])} at "
                          f"{read_package(pkgs['team']).created_at}"]
        stray = [d for k, _, d in pf.milestones(f"{NAME} (2)") if k == "signed"]
        assert stray[0].startswith(f"signed by key {fingerprint(keys['stray'])}, not a trusted key of this project")


def test_run_refuses_an_unsigned_package_when_keys_are_configured(project: Path, tmp_path: Path, capsys: Cap,
                                                                  keys: dict[str, str]) -> None:
    pkgs = packages(project, tmp_path)
    run(capsys, "keys", "add", tmp_path / "team.keyring", tmp_path / "team.key.pub", "--name", "Ana")
    common = ("--contacts-db", project, "--smtp", "127.0.0.1:9", "--sms-url", "http://127.0.0.1:9/")
    for label, flags, says in (("unsigned", ("--keyring", tmp_path / "team.keyring"), "not signed"),
                               ("stray", ("--public-key", tmp_path / "team.key.pub"), "not a trusted key"),
                               ("stray", ("--require-signature",), "no trusted key is configured")):
        code, _, err = run(capsys, "run", pkgs[label], *common, *flags)
        assert code == 2 and says in err and err.count("\n") == 1, err
        assert not (tmp_path / f"{label}.jpkg.run").exists()  # refused before any state was made


def test_extra_workers_check_the_package_as_the_run_that_started_them(project: Path, tmp_path: Path, capsys: Cap,
                                                                     keys: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`run --workers N` starts `run --join` processes with its environment: the keyring goes through
    JOURNEY_STUDIO_KEYRING, and --allow-unsigned through a variable only --join reads."""
    import app.runner.worker as worker
    joined: list[str] = []

    async def fake_join(r: object, state_dir: Path, **_: object) -> None:
        joined.append(str(state_dir))
    monkeypatch.setattr(worker, "join_run", fake_join)
    pkgs = packages(project, tmp_path)
    run(capsys, "keys", "add", tmp_path / "team.keyring", tmp_path / "team.key.pub", "--name", "Ana")
    monkeypatch.setenv("JOURNEY_STUDIO_KEYRING", str(tmp_path / "team.keyring"))
    join = ("--join", "--state-dir", tmp_path / "state")
    code, _, err = run(capsys, "run", pkgs["unsigned"], *join)
    assert code == 2 and "not signed" in err and joined == []
    monkeypatch.setenv("JOURNEY_STUDIO_JOIN_ALLOWS_UNSIGNED", "1")  # what `run --allow-unsigned` hands its workers
    code, _, err = run(capsys, "run", pkgs["unsigned"], *join)
    assert code == 0 and joined == [str(tmp_path / "state")], err
    common = ("--contacts-db", project, "--smtp", "127.0.0.1:9", "--sms-url", "http://127.0.0.1:9/")
    code, _, err = run(capsys, "run", pkgs["unsigned"], *common)  # never for a run of its own
    assert code == 2 and "not signed" in err
