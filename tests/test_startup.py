"""Start-up checks (dashboard/web/startup.py): a weak [auth] cookie_secret or the owner's URL in
the web process's environment stops the start with its message, and `orchdash run` keeps the
owner's URL out of the Streamlit process."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import db_fixtures
import psutil
import pytest
from harness import PROJECT_DIR, AppServer, free_port

from dashboard.web import startup
from queries import schema

GOOD_SECRET = secrets.token_urlsafe(48)
OWNER_URL = "postgresql://owner@127.0.0.1:1/none"
# Nothing listens there: a start that reached the migration would fail with another message.
NOWHERE = "postgresql://nobody@127.0.0.1:1/none"


def example_cookie_secret() -> str:
    """The cookie_secret of .streamlit/secrets.toml.example, its [auth] section uncommented."""
    example = (PROJECT_DIR / ".streamlit" / "secrets.toml.example").read_text()
    lines = [line[2:] for line in example.splitlines() if re.match(r"# (\[\w+\]$|\w+ = )", line)]
    return str(tomllib.loads("\n".join(lines))["auth"]["cookie_secret"])


def write_secrets(path: Path, cookie_secret: str | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = "" if cookie_secret is None else f'cookie_secret = "{cookie_secret}"\n'
    path.write_text(f'[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n{line}')
    return path


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder to start Streamlit in, and a home of its own (~/.streamlit is read)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "missing"),
        ("   ", "missing"),
        ("change-me", "placeholder"),
        ("change-me-" + GOOD_SECRET, "placeholder"),
        ("my-example-cookie-value-0123456789", "placeholder"),
        ("PLACEHOLDER" * 4, "placeholder"),
        ("s3cr3t-but-short", "fewer than 32"),
        ("ab" * 20, "distinct"),
        ("abcdefghij" * 4, "repeated"),
    ],
)
def test_weak_cookie_secrets_are_named(value: str | None, problem: str) -> None:
    found = startup.cookie_secret_problem(value)
    assert found is not None and problem in found
    if value and value.strip():
        assert value not in found  # the message never repeats the secret


def test_the_examples_placeholder_and_a_made_secret() -> None:
    assert startup.cookie_secret_problem(example_cookie_secret()) is not None
    made = [secrets.token_urlsafe(48) for _ in range(200)]
    assert [s for s in made if startup.cookie_secret_problem(s)] == []


@pytest.mark.parametrize("where", ["project", "home"])
def test_check_environment_reads_the_secrets_streamlit_reads(project: Path, where: str) -> None:
    folder = project if where == "project" else Path.home()
    path = write_secrets(folder / ".streamlit" / "secrets.toml", "change-me")
    with pytest.raises(startup.StartupError) as refused:
        startup.check_environment({}, run_in=project)
    message = str(refused.value)
    assert str(path) in message and "placeholder" in message and startup.MAKE_ONE in message

    write_secrets(path, "short-" + GOOD_SECRET[:10])
    with pytest.raises(startup.StartupError, match="fewer than 32"):
        startup.check_environment({}, run_in=project)
    write_secrets(path, None)
    with pytest.raises(startup.StartupError, match="missing"):
        startup.check_environment({}, run_in=project)

    write_secrets(path, GOOD_SECRET)
    startup.check_environment({}, run_in=project)
    path.write_text('[connections.other]\nurl = "x"\n')  # no [auth]: nothing to sign
    startup.check_environment({}, run_in=project)


def test_secrets_files_given_by_environment_or_flag(project: Path) -> None:
    good = write_secrets(project / "good.toml", GOOD_SECRET)
    bad = write_secrets(project / "bad.toml", "change-me")
    with pytest.raises(startup.StartupError, match="placeholder"):
        startup.check_environment({"STREAMLIT_SECRETS_FILES": str(bad)}, run_in=project)
    # A later file's [auth] replaces an earlier one's, as in Streamlit.
    startup.check_environment({"STREAMLIT_SECRETS_FILES": f"{bad} {good}"}, run_in=project)
    # The flag wins over the environment, as click makes it.
    with pytest.raises(startup.StartupError, match="placeholder"):
        startup.check_environment(
            {"STREAMLIT_SECRETS_FILES": str(good)},
            run_in=project,
            streamlit_args=["--secrets.files", "bad.toml"],
        )
    startup.check_environment({}, run_in=project, streamlit_args=[f"--secrets.files={good}"])


def test_the_owners_url_in_the_web_process_is_refused(project: Path) -> None:
    with pytest.raises(startup.StartupError) as refused:
        startup.check_environment({startup.OWNER_URL_VARIABLE: OWNER_URL}, run_in=project)
    message = str(refused.value)
    assert "`orchdash migrate`" in message and "without it" in message
    assert OWNER_URL not in message


def run_streamlit(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`streamlit run dashboard/server.py` by hand, in ``project``; it must stop by itself."""
    command = [sys.executable, "-m", "streamlit", "run", str(PROJECT_DIR / "dashboard/server.py")]
    command += ["--server.port", str(free_port()), "--server.headless", "true"]
    return subprocess.run(
        command,
        cwd=project,
        env={**env, "ORCHDASH_DATA_DIR": str(project / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_streamlit_run_stops_on_a_placeholder_or_the_owners_url(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != startup.OWNER_URL_VARIABLE}
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    write_secrets(project / ".streamlit" / "secrets.toml", example_cookie_secret())
    placeholder = run_streamlit(project, env)
    assert placeholder.returncode == 2, placeholder.stderr
    assert "cookie_secret of [auth]" in placeholder.stderr
    assert startup.MAKE_ONE in placeholder.stderr
    assert "Traceback" not in placeholder.stderr + placeholder.stdout

    write_secrets(project / ".streamlit" / "secrets.toml", GOOD_SECRET)
    owner = run_streamlit(project, {**env, startup.OWNER_URL_VARIABLE: OWNER_URL})
    assert owner.returncode == 2, owner.stderr
    assert "`orchdash migrate`" in owner.stderr
    assert "Traceback" not in owner.stderr + owner.stdout


def test_orchdash_run_stops_before_migrating_on_a_placeholder(project: Path) -> None:
    bad = write_secrets(project / "secrets.toml", "change-me")
    server = AppServer(
        project,
        env={
            "HOME": str(Path.home()),
            "DATABASE_URL": NOWHERE,
            "ORCHDASH_ADMIN_DATABASE_URL": NOWHERE,
            "STREAMLIT_SECRETS_FILES": str(bad),
        },
    )
    with pytest.raises(RuntimeError, match="exited with 2"):
        server.start()
    log = server.log_tail()
    assert "cookie_secret of [auth]" in log and "placeholder" in log
    assert "Traceback" not in log and "migrat" not in log.lower()


@pytest.fixture()
def owner_url(new_database: Callable[[str], str]) -> str:
    url = new_database("orchdash_startup")
    schema.migrate(url)
    return url


def test_orchdash_run_keeps_the_owners_url_from_streamlit(owner_url: str, project: Path) -> None:
    server = AppServer(
        project,
        env={
            "HOME": str(Path.home()),
            "DATABASE_URL": db_fixtures.runtime_url(owner_url),
            "ORCHDASH_ADMIN_DATABASE_URL": owner_url,
        },
    )
    server.start()
    try:
        assert server.process is not None
        (streamlit,) = psutil.Process(server.process.pid).children()
        assert "streamlit" in streamlit.cmdline()
        environ = streamlit.environ()
        assert startup.OWNER_URL_VARIABLE not in environ
        assert environ["DATABASE_URL"] == db_fixtures.runtime_url(owner_url)
        # The parent keeps it: it migrated, and it folds the rollups' log.
        assert psutil.Process(server.process.pid).environ()[startup.OWNER_URL_VARIABLE]
    finally:
        server.stop()
