"""Case 11, configuration: Streamlit as the app runs it keeps XSRF protection on and error
details off; no secret, password or database URL is in the tracked files; and the installed
Streamlit (and the lowest one pyproject.toml allows) is past every known advisory.

There is no network to ask an advisory database, so the advisories are written down below, with
their affected ranges as published (GitHub advisories / PyPA advisory-db); add new ones here.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import httpx
from harness import AppServer
from packaging.requirements import Requirement
from packaging.version import Version

PROJECT = Path(__file__).resolve().parents[2]

# (id, first affected, first fixed, what) for the PyPI package streamlit.
ADVISORIES = [
    ("GHSA-9c6g-qpgj-rvxw / CVE-2023-27494", "0.63.0", "0.81.0", "reflected XSS"),
    ("GHSA-v4hr-4jpx-56gc / CVE-2022-35918", "0.63.0", "1.11.1", "path traversal, components"),
    ("SNYK-PYTHON-STREAMLIT-5880413", "0", "1.27.0", "improper output neutralization for logs"),
    ("GHSA-8qw9-gf7w-42x5", "0", "1.30.0", "path traversal, components (follow-up)"),
    ("GHSA-rxff-vr5r-8cj5 / CVE-2024-42474", "0", "1.37.0", "path traversal, static files"),
    ("CVE-2025-1684", "0", "1.43.2", "st.file_uploader type checked only in the browser"),
    ("GHSA-vqwp-45wm-r9r5 / CVE-2026-10804", "0", "1.53.1", "weak hash in st.cache keys"),
    ("GHSA-7p48-42j8-8846 / CVE-2026-33682", "0", "1.54.0", "SSRF, component requests"),
]

# What Streamlit reads when `orchdash run` starts it in the project folder.
EFFECTIVE_OPTIONS = """
import json
from streamlit import config
config.get_config_options(force_reparse=True)
print(json.dumps({name: config.get_option(name) for name in (
    "server.enableXsrfProtection", "client.showErrorDetails", "client.toolbarMode",
    "server.fileWatcherType", "global.developmentMode",
)}))
"""


def test_streamlit_runs_with_xsrf_protection_on_and_error_details_off() -> None:
    written = tomllib.loads((PROJECT / ".streamlit" / "config.toml").read_text())
    assert written["server"]["enableXsrfProtection"] is True
    assert written["client"]["showErrorDetails"] in ("none", False)
    shown = subprocess.run(
        [sys.executable, "-c", EFFECTIVE_OPTIONS],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    options = json.loads(shown.stdout.strip().splitlines()[-1])
    assert options["server.enableXsrfProtection"] is True
    assert options["client.showErrorDetails"] in ("none", False)
    assert options["global.developmentMode"] is False


def test_the_running_app_hands_out_an_xsrf_token(hostile_server: AppServer) -> None:
    # Streamlit sets its double-submit XSRF cookie (on the health route the frontend polls)
    # only while the protection is on.
    response = httpx.get(hostile_server.url + "/_stcore/health")
    assert response.status_code == 200
    assert any(
        header.startswith("_streamlit_xsrf=") for header in response.headers.get_list("set-cookie")
    )


# ---- no secrets in the repository ----------------------------------------------------------

SECRET_FILES = re.compile(
    r"(^|/)(\.env(\.[^/]*)?|secrets\.toml|secret_key|id_(rsa|dsa|ecdsa|ed25519)[^/]*"
    r"|[^/]*\.(pem|key|p12|pfx|keystore))$"
)
EXAMPLES = re.compile(r"\.(example|sample|template)$")
CREDENTIAL_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"`]+:(?P<secret>[^@\s'\"`/]+)@")
PLACEHOLDER = re.compile(r"^(\.\.\.|…|\*+|<[^>]*>|\$\{?\w+\}?|x+|password|secret|pass)$", re.I)
KEY_MATERIAL = [
    re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub token
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack token
    re.compile(r"\bsk_live_[A-Za-z0-9]{16,}"),  # Stripe key
]
ASSIGNED = re.compile(
    r"(?i)\b\w*(secret|password|passwd|token|api_?key)\w*\s*[=:]\s*[\"']([^\"'\s]{16,})[\"']"
)


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True
    ).stdout
    return [name for name in listed.decode().split("\0") if name]


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def findings(name: str, content: str) -> list[str]:
    found = []
    for match in CREDENTIAL_URL.finditer(content):
        if not PLACEHOLDER.match(match.group("secret")):
            found.append(f"{name}: a URL with a password: {match.group(0)}")
    for pattern in KEY_MATERIAL:
        found += [f"{name}: key material {m.group(0)[:12]}…" for m in pattern.finditer(content)]
    if not name.startswith("tests/"):  # tests sign in with passwords made up for them
        for match in ASSIGNED.finditer(content):
            value = match.group(2)
            # A real secret is random: long, mixed, high entropy; names and settings are not.
            if entropy(value) >= 3.5 and re.search(r"\d", value) and re.search(r"[A-Za-z]", value):
                found.append(f"{name}: an assigned secret {match.group(0)[:40]}…")
    return found


def test_no_secret_password_or_database_url_is_committed() -> None:
    files = tracked_files()
    assert "dashboard/app.py" in files
    assert [f for f in files if SECRET_FILES.search(f) and not EXAMPLES.search(f)] == []
    problems = []
    for name in files:
        path = PROJECT / name
        if not path.is_file():
            continue
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images
            continue
        problems += findings(name, content)
    assert problems == []
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=PROJECT, check=False
    )
    assert ignored.returncode == 0  # the real secrets file cannot be added by accident


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The scan above is only as good as its patterns: each must catch a real-looking leak."""
    leaks = {
        # Split, so that this file does not hold what it plants.
        "config.py": 'DATABASE_URL = "postgresql://orchdash_app:' + 's3cr3t-Pa55@db.example.com/x"',
        "settings.toml": 'cookie_secret = "q8Zr2LmX4vT9pW1nK7sB3yF6"',
        "key.txt": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...",
        "aws.txt": "AKIA" + "ABCDEFGHIJKLMNOP",
    }
    for name, content in leaks.items():
        assert findings(name, content), name
    placeholders = 'DATABASE_URL=postgresql://orchdash_app:...@host/db cookie_secret = "change-me"'
    assert findings("README.md", placeholders) == []
    assert SECRET_FILES.search(".streamlit/secrets.toml")
    assert SECRET_FILES.search(".env") and not EXAMPLES.search(".env")


# ---- Streamlit advisories ------------------------------------------------------------------


def affected(installed: Version) -> list[str]:
    return [
        advisory
        for advisory, first, fixed, _ in ADVISORIES
        if Version(first) <= installed < Version(fixed)
    ]


def test_the_installed_streamlit_is_past_every_known_advisory() -> None:
    assert affected(Version(version("streamlit"))) == []
    assert affected(Version("1.37.0")) != []  # the ranges do catch an old version


def test_the_lowest_streamlit_pyproject_allows_is_past_every_known_advisory() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    [requirement] = [
        Requirement(r)
        for r in project["project"]["dependencies"]
        if Requirement(r).name == "streamlit"
    ]
    lowest = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    assert lowest and affected(max(lowest)) == []
