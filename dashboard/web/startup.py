"""Start-up checks of the web process: settings that would make it unsafe stop the start.

``check_environment()`` runs at import of dashboard/server.py (what `streamlit run` loads) and in
`orchdash run` before anything is migrated or started. A ``StartupError`` says what is wrong and
how to fix it; neither caller shows a traceback, since nothing has been changed yet.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

OWNER_URL_VARIABLE = "ORCHDASH_ADMIN_DATABASE_URL"
MIN_COOKIE_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 10
# Words of a value that was meant to be replaced ("change-me", "your-cookie-secret", ...). None is
# shorter than six letters, so that a random secret contains one by chance about once in 10^7.
PLACEHOLDER_WORDS = ("change", "example", "placeholder", "replace", "secret", "password", "cookie")
MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class StartupError(RuntimeError):
    """The web process must not start: what is wrong and how to fix it."""


def check_environment(
    environ: Mapping[str, str] | None = None,
    *,
    run_in: Path | None = None,
    script: Path | None = None,
    streamlit_args: Sequence[str] = (),
) -> None:
    """Raise StartupError when the web process must not start with this environment or secrets.

    Without ``run_in`` this process is the web process: the secrets are those Streamlit has
    loaded. With it (`orchdash run`, before it starts Streamlit), they are those that
    `streamlit run script streamlit_args`, started in ``run_in`` with ``environ``, will load.
    """
    environ = os.environ if environ is None else environ
    if environ.get(OWNER_URL_VARIABLE):
        raise StartupError(
            f"{OWNER_URL_VARIABLE} is set in the web process's environment: the owner's URL "
            "(who may migrate, create roles and read every tenant's rows) must never reach it, "
            "where a flaw of the app would hand it out. Migrate with `orchdash migrate`, then "
            "start the web process without it (DATABASE_URL, the runtime role's URL, is enough)."
        )
    if run_in is None:
        files, auth = _loaded_auth_section()
    else:
        script = script or run_in / "server.py"
        files, auth = _auth_section_in(run_in, script, environ, streamlit_args)
    if isinstance(auth, Mapping):
        problem = cookie_secret_problem(auth.get("cookie_secret"))
        if problem:
            where = ", ".join(f for f in files if os.path.exists(f)) or ", ".join(files)
            raise StartupError(
                f"The cookie_secret of [auth] in the secrets ({where}) {problem}. With "
                "it anyone could forge Streamlit's identity cookie and sign in as anybody. Put a "
                f"long random one there, made by `{MAKE_ONE}`."
            )


def cookie_secret_problem(value: Any) -> str | None:
    """What is wrong with [auth] cookie_secret, or None; never repeats the value itself."""
    if not isinstance(value, str) or not value.strip():
        return "is missing or empty"
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "looks like a placeholder (it contains a word such as 'change' or 'example')"
    if len(value) < MIN_COOKIE_SECRET_CHARS:
        return f"has {len(value)} characters, fewer than {MIN_COOKIE_SECRET_CHARS}"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"has fewer than {MIN_DISTINCT_CHARS} distinct characters"
    # A value that is one shorter piece repeated ("abcdefghij" * 4) is found in its own rotation.
    if value in (value + value)[1:-1]:
        return "is a shorter piece repeated"
    return None


def _loaded_auth_section() -> tuple[list[str], Any]:
    """[auth] as Streamlit's own sign-in reads it in this process (auth_util.get_signing_secret)."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    files = list(config.get_option("secrets.files"))
    if not secrets_singleton.load_if_toml_exists():
        return files, None
    return files, secrets_singleton.get("auth")


def _auth_section_in(
    run_in: Path, script: Path, environ: Mapping[str, str], streamlit_args: Sequence[str]
) -> tuple[list[str], Any]:
    """[auth] as `streamlit run script` started in ``run_in`` will load it.

    Streamlit locates the files (its config option secrets.files, whose default is relative to
    the working directory and the script) and parses each. Its secrets singleton is not used: it
    would copy top-level values into this process's environment and start file watchers.
    """
    from streamlit import config
    from streamlit.errors import StreamlitSecretNotFoundError
    from streamlit.runtime.secrets import Secrets
    from streamlit.web import bootstrap

    # Streamlit's click command takes the option from its flag, else from its variable
    # (STREAMLIT_SECRETS_FILES), split on whitespace.
    variable = config.get_config_options()["secrets.files"].env_var or ""
    given = _secrets_files_flag(streamlit_args) or environ.get(variable, "").split()
    saved_script = config._main_script_path
    try:
        with contextlib.chdir(run_in):
            # As `streamlit run` does (web/cli.py _main_run): the script first, then the options.
            config._main_script_path = str(script)
            bootstrap.load_config_options({"secrets_files": tuple(given)})
            files = [os.path.abspath(f) for f in config.get_option("secrets.files")]
    finally:
        config._main_script_path = saved_script
    secrets: dict[str, Any] = {}
    loader = Secrets()
    try:
        for path in files:
            # Streamlit's parser of one entry (a .toml file or a directory of secrets).
            found, _ = loader._parse_file_path(path)
            secrets.update(found)
    except StreamlitSecretNotFoundError:
        # Streamlit then starts with no secrets at all, [auth] included: nothing to check.
        return files, None
    return files, secrets.get("auth")


def _secrets_files_flag(args: Sequence[str]) -> list[str]:
    """The values of `--secrets.files` among `streamlit run`'s arguments (click's two forms)."""
    values = []
    for i, arg in enumerate(args):
        if arg == "--secrets.files" and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith("--secrets.files="):
            values.append(arg.partition("=")[2])
    return values


def exit_if_unsafe() -> None:
    """check_environment() for the web process: its message and exit status 2, no traceback."""
    try:
        check_environment()
    except StartupError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
