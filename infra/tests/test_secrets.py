"""No committed credentials: a scan of the repository's files for keys, passwords and tokens.

The scan covers every file git tracks plus the untracked files git does not ignore (what the next commit
could add). It fails on AWS access key ids, private-key blocks, password/secret/token assignments whose
value is a literal that is not a placeholder, and high-entropy strings in configuration files. The only
values allowed are clearly fake: ``.env.example``'s ``PLACEHOLDER`` (``make up`` replaces it with a
random secret in the git-ignored ``.env``), values containing ``placeholder`` (the Astro
``airflow_settings.yaml`` files), and references such as ``${VAR}`` or ``{{ ... }}``. The scanner is
also run on a hand-made bad file, so the repository scan cannot pass by finding nothing at all.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Files whose every line is configuration: unquoted values are literals, long random tokens are suspect.
CONFIG_SUFFIXES = frozenset({".env", ".example", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".json"})
CONFIG_NAMES = frozenset({".env", "Dockerfile", "Makefile"})

AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
#: A name that holds a credential; SECRET_ACCESS_KEY, AIRFLOW_PASSWORD, api_token, conn_password, ...
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key|access_?key|private_?key)[A-Za-z0-9_]*"
)
#: ``name = "literal"`` / ``name: 'literal'`` / ``"name": "literal"``, in any file.
QUOTED_ASSIGNMENT = re.compile(rf"""(?i)\b({_SECRET_NAME})["']?\s*[:=]\s*(["'])([^"'\n]*)\2""")
#: ``NAME=literal`` / ``name: literal``, unquoted, in configuration files only.
BARE_ASSIGNMENT = re.compile(rf"""(?i)^\s*(?:export\s+|-\s+)?({_SECRET_NAME})\s*[:=]\s*([^\s"'#]+)""")
#: Values that are clearly not a secret: placeholders, references to the environment or templates.
ALLOWED_VALUE = re.compile(
    r"(?i)^$|placeholder|fake|dummy|wrong|not-the-|example"  # says it is not a real secret
    r"|^\$\{?[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|^<[^>]+>$"  # ${VAR}, $VAR, {{ template }}, <value>
)
#: Toy values that unit tests pass to code under test (never to a server anyone else can reach).
TEST_TOY_VALUES = frozenset({"s3cret"})
#: Code that names a variable rather than holding a value: ``AIRFLOW_PASSWORD``, ``secret_key``
#: (a generated token mixes cases and digits, so it never looks like this).
IDENTIFIER_VALUE = re.compile(r"^(?:[A-Z][A-Z0-9_]*|[a-z]+(?:_[a-z]+)*)$")
#: A token long and varied enough to be a generated secret (base64/url-safe alphabet).
TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/_=-])")
#: Bits per character above which a token counts as random (English words and paths stay far below).
ENTROPY_THRESHOLD = 4.3
#: Digests are not secrets: ``sha256:<hex>`` fingerprints in manifests and frozen contracts.
DIGEST = re.compile(r"(?i)\b(?:sha256|sha1|md5)[:=]\s*[0-9a-f]+")


@dataclass(frozen=True)
class Finding:
    """One suspected credential."""

    path: str
    line: int
    rule: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.excerpt}"


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def is_config(path: Path) -> bool:
    """Whether ``path`` is a configuration file (its lines are settings, not code)."""
    return path.suffix in CONFIG_SUFFIXES or path.name in CONFIG_NAMES or path.name.startswith(".env")


def _names_a_key_id(name: str) -> bool:
    # Access key ids are account names (``data-team``), not secrets; a real AWS one is caught as AKIA...
    return name.lower().endswith("id")


def _is_random_token(token: str) -> bool:
    # Generated secrets mix letters and digits; identifiers such as SEAWEEDFS_FILER_GRPC_PORT do not.
    has_digit = any(c.isdigit() for c in token)
    has_letter = any(c.isalpha() for c in token)
    return has_digit and has_letter and shannon_entropy(token) >= ENTROPY_THRESHOLD


def _redact(value: str) -> str:
    return value[:4] + "…" if len(value) > 4 else value


def scan_text(path: Path, text: str, relative: str) -> list[Finding]:
    """Every suspected credential in ``text`` (the contents of ``path``)."""
    findings: list[Finding] = []
    config = is_config(path)
    for number, line in enumerate(text.splitlines(), start=1):
        for match in AWS_KEY_ID.finditer(line):
            findings.append(Finding(relative, number, "AWS access key id", _redact(match.group())))
        if block := PRIVATE_KEY.search(line):
            findings.append(Finding(relative, number, "private key block", block.group()))
        for match in QUOTED_ASSIGNMENT.finditer(line):
            name, value = match.group(1), match.group(3)
            if _names_a_key_id(name) or ALLOWED_VALUE.search(value) or value in TEST_TOY_VALUES:
                continue
            if config or not IDENTIFIER_VALUE.match(value):
                findings.append(Finding(relative, number, f"literal {name}", _redact(value)))
        if config:
            match = BARE_ASSIGNMENT.match(line)
            if match and not _names_a_key_id(match.group(1)) and not ALLOWED_VALUE.search(match.group(2)):
                findings.append(
                    Finding(relative, number, f"literal {match.group(1)}", _redact(match.group(2)))
                )
            stripped = DIGEST.sub("", line)
            for token in TOKEN.findall(stripped):
                if _is_random_token(token):
                    findings.append(Finding(relative, number, "high-entropy string", _redact(token)))
    return findings


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
    """Every suspected credential in ``files`` (paths under ``root``)."""
    findings: list[Finding] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        findings.extend(scan_text(path, text, str(path.relative_to(root))))
    return findings


# Fake credentials for the scanner's own test, assembled at run time so this file holds none.
_FAKE_KEY_ID = "AKIA" + "Q3EXAMPLEZ7XK2VN"
_FAKE_SIGNATURE = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8Hd2Lm"
_BAD_FILES = {
    "settings.env": f"AWS_ACCESS_KEY_ID={_FAKE_KEY_ID}\nAWS_SECRET_ACCESS_KEY={_FAKE_SIGNATURE}\n",
    "connection.yaml": "conn_password: hunter2-but-longer\nnote: " + "Zx9" + "qLm2Vb7Rt4Wp8Ks1Hd6Yc3Nf5\n",
    "client.py": 'client = connect(token="' + "ghp_" + '0a1b2c3d4e5f6a7b8c9d")\n',
    "deploy.pem": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n",
}


def test_scanner_finds_each_kind_of_credential(tmp_path: Path, reliability_row) -> None:
    """The scanner reports every planted credential: key id, secret, password, token, entropy, private key."""
    for name, text in _BAD_FILES.items():
        (tmp_path / name).write_text(text)
    findings = scan(tmp_path, sorted(tmp_path.iterdir()))
    rules = {(f.path, f.rule) for f in findings}
    reliability_row("secrets scanner on planted file", "7 kinds found", f"{len(rules)} found")
    assert rules >= {
        ("settings.env", "AWS access key id"),
        ("settings.env", "literal AWS_SECRET_ACCESS_KEY"),
        ("settings.env", "high-entropy string"),
        ("connection.yaml", "literal conn_password"),
        ("connection.yaml", "high-entropy string"),
        ("client.py", "literal token"),
        ("deploy.pem", "private key block"),
    }


def test_scanner_allows_placeholders_and_references(tmp_path: Path) -> None:
    """PLACEHOLDER values, *-placeholder names, ${VAR} and code naming a variable are not findings."""
    (tmp_path / ".env.example").write_text("ADMIN_AWS_SECRET_ACCESS_KEY=PLACEHOLDER\nAIRFLOW_PASSWORD=\n")
    (tmp_path / "settings.yaml").write_text(
        "conn_password: data-team-secret-key-placeholder\npassword: ${POSTGRES_PASSWORD}\n"
    )
    (tmp_path / "stack.py").write_text('PASSWORD_ENV = "AIRFLOW_PASSWORD"\nsecret = os.environ["X"]\n')
    assert scan(tmp_path, sorted(tmp_path.iterdir())) == []


def test_repository_holds_no_credentials(reliability_row) -> None:
    """No tracked (or addable) file holds a key, password, token or random-looking secret."""
    files = repository_files(REPO_ROOT)
    findings = scan(REPO_ROOT, files)
    reliability_row(f"secrets scan of {len(files)} files", "0 findings", f"{len(findings)} findings")
    assert len(files) > 50, "git listed too few files: is the scan looking at the repository?"
    assert findings == [], "committed credentials:\n" + "\n".join(map(str, findings))
