"""No committed credentials: detect-secrets scans the repository's files for keys, passwords and tokens.

The scan covers every file git tracks plus the untracked files git does not ignore (what the next commit
could add). It runs every detect-secrets plugin (AWS keys, private keys, secret-named assignments,
high-entropy strings, the token formats of GitHub, GitLab, Slack, Stripe, PyPI, JWT, ...) with the
library's heuristic filters, minus one (see ``scan``). The only values allowed are clearly fake: those
containing ``placeholder`` (``.env.example``'s ``PLACEHOLDER``, which ``make up`` replaces with a random
secret in the git-ignored ``.env``, and the Astro ``airflow_settings.yaml`` files), ``fake``, ``dummy``,
``wrong`` or ``not-the-``, and the toy passwords that unit tests hand to code under test. A line that
holds no secret but looks like one says so with detect-secrets' ``# pragma: allowlist secret``; a JSON
line stating a file's ``"sha256"`` digest is one by its shape (JSON has no comments). The
scan is also run on planted credentials, one kind per file, so the repository scan cannot pass by
finding nothing at all.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Values that are not secrets: those that say so (placeholders, wrong passwords a test sends on purpose)
#: and the toy passwords unit tests pass to code under test (never to a server anyone else can reach).
ALLOWED_VALUES = [r"(?i)placeholder|fake|dummy|wrong|not-the-", r"^(?:s3cret|secret)$"]
#: A JSON line that states a file's sha256 digest (a manifest's ``files``): a content hash, not a secret.
DIGEST_LINE = r'^\s*"sha256": "[0-9a-f]{64}"\s*$'


@dataclass(frozen=True)
class Finding:
    """One suspected credential."""

    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def repository_files(root: Path) -> list[Path]:
    """The files git tracks, plus untracked ones it does not ignore; binary files are left out."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    files = [root / name for name in listed.split("\0") if name]
    return [path for path in files if path.is_file() and b"\0" not in path.read_bytes()[:8192]]


def scan(root: Path, files: list[Path]) -> list[Finding]:
    """Every suspected credential in ``files`` (paths under ``root``), found by detect-secrets."""
    findings: list[Finding] = []
    with default_settings() as settings, tempfile.TemporaryDirectory() as scratch:
        settings.filters["detect_secrets.filters.regex.should_exclude_secret"] = {"pattern": ALLOWED_VALUES}
        # A manifest's file digest (the stored 2.0.0 documents in contracts/tests/fixtures) is hex of high
        # entropy too; JSON holds no pragma comment, so the line that names it a sha256 says so instead.
        settings.filters["detect_secrets.filters.regex.should_exclude_line"] = {"pattern": [DIGEST_LINE]}
        # This filter drops every line shaped like ``x = f(...)``, and with it
        # ``boto3.client("s3", aws_access_key_id="AKIA...")``; without it the repository has no extra finding.
        settings.disable_filters("detect_secrets.filters.heuristic.is_indirect_reference")
        for path in files:
            scanned = path
            if path.suffix == ".example":
                # detect-secrets reads ``*.example`` files as prose, where only quoted values count, so an
                # unquoted ``SECRET=value`` in ``.env.example`` would pass; scan it as the file it stands for.
                scanned = Path(scratch) / path.stem
                shutil.copyfile(path, scanned)
            collection = SecretsCollection()
            collection.scan_file(str(scanned))
            relative = str(path.relative_to(root))
            findings.extend(Finding(relative, secret.line_number, secret.type) for _, secret in collection)
    return findings


# Fake credentials for the scanner's own test, assembled at run time so this file holds none.
_FAKE_KEY_ID = "AKIA" + "Q3EXAMPLEZ7XK2VN"
_FAKE_SIGNATURE = "wJalrXUtnFEMI/K7" + "MDENG/bPxRfiCYzq" + "8Hd2LmTq0JvW"
_FAKE_TOKEN = "Zx9qLm2V" + "b7Rt4Wp8" + "Ks1Hd6Yc" + "3Nf5"
_FAKE_GITHUB_TOKEN = "ghp_" + "x" * 36
#: One planted credential per file, and the detect-secrets finding it must raise.
_PLANTED = {
    "settings.env": (f"AWS_ACCESS_KEY_ID={_FAKE_KEY_ID}\n", "AWS Access Key"),
    "secret.env": (f"AWS_SECRET_ACCESS_KEY={_FAKE_SIGNATURE}\n", "Secret Keyword"),
    ".env.example": ("ADMIN_AWS_SECRET_ACCESS_KEY=" + "hunter2-but-longer\n", "Secret Keyword"),
    "connection.yaml": ("conn_password: hunter2-but-longer\n", "Secret Keyword"),
    "notes.yaml": (f"note: {_FAKE_TOKEN}\n", "Base64 High Entropy String"),
    "client.py": (f'client = connect(token="{_FAKE_GITHUB_TOKEN}")\n', "GitHub Token"),
    "deploy.pem": ("-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n", "Private Key"),
}


def test_scanner_finds_each_kind_of_credential(tmp_path: Path, reliability_row) -> None:
    """Each planted credential is found: key id, secret key, .env.example, password, entropy, token, key."""
    for name, (text, _) in _PLANTED.items():
        (tmp_path / name).write_text(text)
    findings = scan(tmp_path, sorted(tmp_path.iterdir()))
    found = {(f.path, f.kind) for f in findings}
    expected = {(name, kind) for name, (_, kind) in _PLANTED.items()}
    reliability_row(
        "secrets scanner on planted files", f"{len(expected)} kinds found", f"{len(expected & found)} found"
    )
    assert found >= expected, f"missed: {sorted(expected - found)}"


def test_scanner_allows_placeholders_and_references(tmp_path: Path) -> None:
    """PLACEHOLDER values, *-placeholder names, toy test passwords, ${VAR} and os.environ are not findings."""
    (tmp_path / ".env.example").write_text("ADMIN_AWS_SECRET_ACCESS_KEY=PLACEHOLDER\nAIRFLOW_PASSWORD=\n")
    (tmp_path / "settings.yaml").write_text(
        "conn_password: data-team-secret-key-placeholder\npassword: ${POSTGRES_PASSWORD}\n"
    )
    (tmp_path / "stack.py").write_text('secret = os.environ["X"]\nconnect(password="s3cret")\n')
    assert scan(tmp_path, sorted(tmp_path.iterdir())) == []


def test_repository_holds_no_credentials(reliability_row) -> None:
    """No tracked (or addable) file holds a key, password, token or random-looking secret."""
    files = repository_files(REPO_ROOT)
    findings = scan(REPO_ROOT, files)
    reliability_row(f"secrets scan of {len(files)} files", "0 findings", f"{len(findings)} findings")
    assert len(files) > 50, "git listed too few files: is the scan looking at the repository?"
    assert findings == [], "committed credentials:\n" + "\n".join(map(str, findings))
