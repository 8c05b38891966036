"""`journey-studio package`, `verify`, `keygen` and `import-package`: exit statuses and what they say."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.package.keyring import fingerprint
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.test_package import NAME, approve, entries, make_project, rezip, save_run
from tests.samples import ANNOUNCEMENT

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


def test_package_then_verify(project: Path, tmp_path: Path, capsys: Cap) -> None:
    out = tmp_path / "a.jpkg"
    code, stdout, stderr = run(capsys, "package", project, "--journey", NAME, "--out", out)
    assert code == 0, stderr
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert stdout.splitlines() == [f"Wrote {out}: '{NAME}' version 1, unsigned, no approved run",
                                   f"SHA-256 {digest}"]
    assert f"Froze '{NAME}' as version 1; edits now make version 2" in stderr
    # the package's journey.yaml is what `export --version 1` writes
    code, exported, _ = run(capsys, "export", project, "--journey", NAME, "--version", "1")
    assert code == 0 and entries(out)["journey.yaml"].decode() == exported

    code, stdout, stderr = run(capsys, "verify", out)
    assert code == 0 and stderr == ""
    lines = stdout.splitlines()
    assert lines[0] == f"{out}: OK"
    assert f"  journey       {NAME}, version 1 (id " in lines[1]
    assert "journey.yaml, content.json, segments.json, validation.json: sizes and SHA-256 match" in stdout
    assert "  signed by     unsigned" in lines and "  approved run  none" in lines
    assert f"  SHA-256       {digest}" in lines
    code, stdout, _ = run(capsys, "verify", out, "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["ok"] and doc["sha256"] == digest and doc["manifest"]["journey"]["version"] == 1

    code, stdout, _ = run(capsys, "info", project)
    assert "exported  package a.jpkg: version 1" in stdout


def test_package_refused_lists_every_reason_and_writes_nothing(tmp_path: Path, capsys: Cap) -> None:
    text = ANNOUNCEMENT.replace("launched: {type: sms, content: Product launched text}", "launched: {type: sms}")
    project = make_project(tmp_path / "p.jstudio", text)
    with ProjectFile.open(project) as pf:
        from app.model.content import Content
        c = pf.project.content["Product announcement email"]
        pf.project.put_content(Content(**{**c.__dict__, "status": "draft"}))
    out = tmp_path / "a.jpkg"
    code, stdout, stderr = run(capsys, "package", project, "--journey", NAME, "--out", out)
    assert code == 1 and stdout == "" and not out.exists()
    lines = stderr.splitlines()
    assert any("message-without-content in step 'launched' (content)" in line for line in lines)
    assert any("content-not-ready in step 'announce' (content)" in line for line in lines)
    assert ("  content 'Product announcement email' (email) is Draft: the content must be in the Ready to send "
            "state") in lines
    assert lines[-1] == (f"journey-studio: error: journey '{NAME}' cannot go live: 2 errors and 1 content item not "
                         "Ready to send (no package was written, nothing was frozen)")
    code, stdout, _ = run(capsys, "info", project)
    assert "frozen versions" not in stdout and "exported" not in stdout


def test_package_bad_input_exits_2(project: Path, tmp_path: Path, capsys: Cap) -> None:
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "a.jpkg",
                          "--version", "3")
    assert code == 2 and "has no frozen version 3" in stderr
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "no" / "a.jpkg")
    assert code == 2 and "the folder" in stderr and "does not exist" in stderr
    code, _, stderr = run(capsys, "package", project, "--journey", NAME, "--out", tmp_path / "a.jpkg",
                          "--sign-key", tmp_path / "missing.key")
    assert code == 2 and "no such signing key file" in stderr
    code, _, stderr = run(capsys, "package", tmp_path / "none.jstudio", "--journey", NAME, "--out", tmp_path / "x")
    assert code == 2 and "no such project file" in stderr
    with ProjectFile.open(project) as pf:
        assert pf.versions(NAME) == []  # nothing was frozen by any of these


def test_keygen_sign_verify_with_keys(project: Path, tmp_path: Path, capsys: Cap,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "team.key"
    code, stdout, _ = run(capsys, "keygen", "--out", key)
    assert code == 0 and key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "team.key.pub").exists()
    kid = stdout.splitlines()[-1].removeprefix("Key id ")
    assert kid.startswith("ed25519:") and len(kid) == len("ed25519:") + 32
    code, _, stderr = run(capsys, "keygen", "--out", key)
    assert code == 2 and "already exists" in stderr
    run(capsys, "keygen", "--out", tmp_path / "other.key")

    monkeypatch.setenv("JOURNEY_STUDIO_SIGNING_KEY", str(key))
    out = tmp_path / "s.jpkg"
    code, stdout, _ = run(capsys, "package", project, "--journey", NAME, "--out", out)
    assert code == 0 and f"signed by {fingerprint(kid)}, no approved run" in stdout
    monkeypatch.delenv("JOURNEY_STUDIO_SIGNING_KEY")

    code, stdout, _ = run(capsys, "verify", out, "--public-key", tmp_path / "team.key.pub", "--require-signature")
    assert code == 0 and f"  signed by     'team.key' {fingerprint(kid)}, a trusted key, at " in stdout
    code, stdout, _ = run(capsys, "verify", out)
    assert code == 0 and "not checked against a trusted key" in stdout
    code, stdout, stderr = run(capsys, "verify", out, "--public-key", tmp_path / "other.key.pub")
    assert code == 1 and stdout == "" and len(stderr.splitlines()) == 1
    assert f"refused: signed by key {fingerprint(kid)}, which is not a trusted key" in stderr
    code, _, stderr = run(capsys, "verify", out, "--public-key", key)
    assert code == 2 and "this is a private key; give its public key (team.key.pub)" in stderr


def test_verify_refusals_are_one_line_with_status_1(project: Path, tmp_path: Path, capsys: Cap) -> None:
    out = tmp_path / "a.jpkg"
    run(capsys, "package", project, "--journey", NAME, "--out", out)
    code, _, stderr = run(capsys, "verify", out, "--require-signature")
    assert (code, stderr) == (1, f"journey-studio: error: {out}: a signature is required (--require-signature) but "
                                 "no trusted key is configured, so any key's signature would pass: add the team's key "
                                 "(journey-studio keys add PROJECT KEYFILE.pub --name NAME) or give --public-key or "
                                 "--keyring\n")
    files = entries(out)
    files["journey.yaml"] = files["journey.yaml"].replace(b"within: 1d", b"within: 2d")
    tampered = rezip(tmp_path / "t.jpkg", files)
    code, _, stderr = run(capsys, "verify", tampered)
    assert (code, stderr) == (1, f"journey-studio: error: {tampered}: journey.yaml was changed after the package "
                                 "was made (its SHA-256 does not match the manifest)\n")
    evil = rezip(tmp_path / "evil.jpkg", {**entries(out), "../evil": b"x"})
    code, _, stderr = run(capsys, "verify", evil)
    assert code == 1 and "refused: entry '../evil' has a '..' part" in stderr
    code, _, stderr = run(capsys, "verify", tmp_path / "missing.jpkg")
    assert code == 1 and "no such package file" in stderr


def test_package_carries_the_approved_run(project: Path, tmp_path: Path, capsys: Cap) -> None:
    with ProjectFile.open(project) as pf:
        run_id = save_run(pf)
        approve(pf, run_id, "ana")
    out = tmp_path / "a.jpkg"
    code, stdout, _ = run(capsys, "package", project, "--journey", NAME, "--out", out)
    assert code == 0 and f"approved run {run_id}" in stdout
    code, stdout, _ = run(capsys, "verify", out)
    line = next(x for x in stdout.splitlines() if x.startswith("  approved run"))
    assert f"run {run_id} 'baseline', approved by ana at 2026-05-01T09:30:00+00:00 (400 contacts, seed 4, " \
           "2 replicas" in line


def test_import_package_round_trip(project: Path, tmp_path: Path, capsys: Cap) -> None:
    out = tmp_path / "a.jpkg"
    run(capsys, "package", project, "--journey", NAME, "--out", out)
    review = tmp_path / "review.jstudio"
    run(capsys, "new", review)
    code, stdout, _ = run(capsys, "import-package", review, out)
    assert code == 0 and stdout.splitlines()[-1].startswith(f"Imported journey '{NAME}' (4 steps), version 1")
    code, again, _ = run(capsys, "export", review, "--journey", NAME, "--version", "1")
    assert again == entries(out)["journey.yaml"].decode()  # the journey as shipped, to the byte, as version 1
    code, _, stderr = run(capsys, "import-package", review, out)  # the same name: refused, as `import` refuses
    assert code == 2 and f"already has a journey named '{NAME}': give --rename" in stderr
    code, stdout, _ = run(capsys, "import-package", review, out, "--rename")
    assert code == 0 and f"Imported journey '{NAME} (2)'" in stdout
    code, stdout, _ = run(capsys, "import-package", review, out, "--as", "Shipped")
    assert code == 0 and "Imported journey 'Shipped'" in stdout
    code, _, stderr = run(capsys, "import-package", review, out, "--as", "Shipped")
    assert code == 2 and "already has a journey named 'Shipped'" in stderr
    bad = rezip(tmp_path / "bad.jpkg", {n: b"" if n == "content.json" else d for n, d in entries(out).items()})
    code, _, stderr = run(capsys, "import-package", review, bad)
    assert code == 1 and "content.json was changed after the package was made" in stderr
    code, stdout, _ = run(capsys, "info", review)
    assert stdout.count("imported  package a.jpkg") == 3
