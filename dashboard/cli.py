"""The `orchdash` admin command: migrate, demo, users, run, check, digest."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dashboard.web import startup
from queries import admin, embedded, engines, schema

PACKAGE_DIR = Path(__file__).resolve().parent


def _external() -> bool:
    return bool(os.environ.get("DATABASE_URL") or os.environ.get("ORCHDASH_ADMIN_DATABASE_URL"))


def migrate() -> None:
    """Migrate the database; an embedded demo database of the folded revisions is made anew."""
    if not _external() and schema.is_folded(engines.admin_url()):
        print(
            "The embedded demo database predates the folded migrations (f01-f05): recreating it.",
            file=sys.stderr,
        )
        embedded.drop_embedded_database()
    schema.migrate(engines.admin_url())


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate()
    print("Database migrated to the latest revision.")
    return 0


def _progress(done: int, total: int, started: float = time.monotonic()) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-6)
    bar = "#" * filled + "-" * (width - filled)
    print(f"\r  [{bar}] {done:,}/{total:,} rows ({rate:,.0f}/s)", end="", file=sys.stderr)
    if done >= total:
        print(file=sys.stderr)


def load_demo(rows: int, seed: int) -> None:
    from queries import demo

    started = time.monotonic()
    print(f"Loading {rows:,} demo rows (seed {seed})...", file=sys.stderr)
    summary = demo.load_demo(
        engines.admin_engine(),
        rows=rows,
        seed=seed,
        progress=lambda done, total: _progress(done, total, started),
    )
    took = time.monotonic() - started
    print(
        f"Loaded {summary.rows:,} rows, {summary.companies} companies, "
        f"{summary.ventures} ventures in {took:.1f} s.",
        file=sys.stderr,
    )
    for email, password in demo.DEMO_PASSWORDS.items():
        print(f"  demo account: {email} / {password}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    if _external() and not args.yes:
        print(
            "Refusing to replace data on an external database without --yes: "
            "the demo loader empties the tenant tables first.",
            file=sys.stderr,
        )
        return 2
    migrate()
    load_demo(args.rows, args.seed)
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    engine = engines.admin_engine()
    if args.action == "add":
        password = args.password or getpass.getpass(f"Password for {args.email}: ")
        user_id = admin.add_user(engine, args.email, password)
        print(f"{args.email}: {user_id}")
    elif args.action in ("grant", "revoke"):
        admin.set_access(engine, args.email, args.company, active=args.action == "grant")
        print(f"{args.action}: {args.email} -> {args.company}")
    else:
        for row in admin.list_users(engine):
            print(f"{row.email:32} {row.user_id}  active: {row.active or '-'}")
    return 0


def _web_environment() -> dict[str, str]:
    """The Streamlit process's environment: the owner's URL stays here (migration, the fold)."""
    return {k: v for k, v in os.environ.items() if k != startup.OWNER_URL_VARIABLE}


def cmd_run(args: argparse.Namespace) -> int:
    # Checked as the Streamlit process will see it, before anything is migrated or started.
    startup.check_environment(
        _web_environment(),
        run_in=PACKAGE_DIR.parent,
        script=PACKAGE_DIR / "server.py",
        streamlit_args=args.streamlit_args,
    )
    if not os.environ.get("DATABASE_URL"):
        # The embedded server is kept alive by this process for the lifetime of the app; the
        # Streamlit process joins the same server, and the last of the two to exit stops it.
        from queries import demo

        migrate()
        if not demo.has_demo(engines.admin_engine()):
            load_demo(int(os.environ.get("ORCHDASH_DEMO_ROWS", "200000")), seed=42)
    elif os.environ.get("ORCHDASH_ADMIN_DATABASE_URL"):
        migrate()
    if not os.environ.get("DATABASE_URL") or os.environ.get("ORCHDASH_ADMIN_DATABASE_URL"):
        # The rollups' log of changes, folded every few seconds while the app runs.
        from queries import folding

        folding.start(engines.admin_engine())
    # Digests, in this process rather than the web one: SMTP down never slows a page.
    from dashboard.mail import sender
    from queries import get_engine

    if sender.start(get_engine()) is None:
        print("Email is not configured (ORCHDASH_SMTP_URL): no digest is sent.", file=sys.stderr)
    port = os.environ.get("STREAMLIT_SERVER_PORT", "8501")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PACKAGE_DIR / "server.py"),
        "--server.port",
        port,
        *args.streamlit_args,
    ]
    print(f"Serving the dashboard on http://localhost:{port}", file=sys.stderr)
    # Streamlit reads .streamlit/ from the working directory: the project's own folder.
    process = subprocess.Popen(command, cwd=PACKAGE_DIR.parent, env=_web_environment())
    # A service manager (systemd, docker stop) sends SIGTERM: stop as on Ctrl-C, so that
    # Streamlit is stopped too and the exit handlers stop the embedded server.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
    finally:
        if not os.environ.get("DATABASE_URL"):
            embedded.forget_exited_users()


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_check(args: argparse.Namespace) -> int:
    """Verify the deployment (queries.checks); 1 when something is unsafe."""
    from queries import checks

    owner = args.owner_url or os.environ.get("ORCHDASH_ADMIN_DATABASE_URL")
    if owner is None and not (args.url or os.environ.get("DATABASE_URL")):
        owner = engines.admin_url()  # the embedded server, whose owner is at hand
    results = checks.run_checks(args.url or engines.app_url(), owner)
    width = max(len(c.name) for c in results) + 2
    indent = " " * (width + 8)
    print(f"{'check':{width}}{'status':8}problem / fix")
    for c in results:
        lines = c.detail.splitlines() + [f"fix: {fix}" for fix in c.fix.splitlines()]
        print((f"{c.name:{width}}{c.status:8}" + f"\n{indent}".join(lines)).rstrip())
    return 1 if checks.unsafe(results) else 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Subscribe a user, list every subscription, or send what is due (or everything) now."""
    from dashboard.mail import sender, smtp
    from dashboard.ui import pages
    from queries import InvalidFilter, Subscription, get_engine, timezone_name

    if args.action == "subscribe":
        found = [p for p in pages.PAGES if args.page in (p.path, p.title)]
        if not found:
            print(f"No page {args.page!r}: one of {', '.join(p.path for p in pages.PAGES)}.")
            return 2
        try:
            sub = Subscription(
                found[0].path,
                args.query.lstrip("?"),
                args.period,
                args.every,
                args.hour,
                args.tz or timezone_name(),
            )
            made = admin.subscribe(engines.admin_engine(), args.email, sub)
        except (InvalidFilter, LookupError) as error:
            print(error, file=sys.stderr)
            return 2
        print(f"{args.email}: subscribed ({made}) to {found[0].title}, every {args.every}")
        return 0
    if args.action == "list":
        for row in admin.list_subscriptions(engines.admin_engine()):
            last = f"{row.last_status} {row.last_at:%Y-%m-%d %H:%M}" if row.last_status else "-"
            print(
                f"{row.id}  {row.email or '(no user)':32} {row.page:24} every {row.every} "
                f"at {row.hour:02}:00 {row.tz}  last: {last}"
                + (f" ({row.last_detail})" if row.last_detail else "")
            )
        return 0
    settings = smtp.SmtpSettings.from_env()
    if settings is None:
        print("Email is not configured: set ORCHDASH_SMTP_URL.", file=sys.stderr)
        return 2
    done = sender.send_round(get_engine(), settings, everything=args.all)
    if done is None:
        print("Another process is sending right now; nothing was sent.", file=sys.stderr)
        return 1
    for sent in done:
        print(f"{sent.subscription_id} {sent.occasion}: {sent.outcome} {sent.detail}".rstrip())
    print(f"{sum(s.outcome == 'sent' for s in done)} sent, {len(done)} handled.")
    return 1 if any(s.outcome == "failed" for s in done) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchdash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    demo = sub.add_parser("demo", help="load the deterministic demo data")
    demo.add_argument("--rows", type=int, default=200_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--yes", action="store_true", help="allow on an external database")
    demo.set_defaults(func=cmd_demo)
    users = sub.add_parser("users", help="list users, add one, grant or revoke access")
    users.add_argument("action", nargs="?", choices=["list", "add", "grant", "revoke"])
    users.add_argument("email", nargs="?")
    users.add_argument("company", nargs="?", help="company name or id (grant/revoke)")
    users.add_argument("--password")
    users.set_defaults(func=cmd_users)
    run = sub.add_parser("run", help="serve the dashboard (embedded database unless DATABASE_URL)")
    run.add_argument("streamlit_args", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="verify the deployment; exit 1 when it is unsafe")
    check.add_argument("--url", help="the runtime role's URL (default: DATABASE_URL)")
    check.add_argument("--owner-url", help="the owner's (default: ORCHDASH_ADMIN_DATABASE_URL)")
    check.set_defaults(func=cmd_check)
    digest = sub.add_parser("digest", help="email digests: subscribe a user, list, send")
    actions = digest.add_subparsers(dest="action", required=True)
    subscribe = actions.add_parser("subscribe", help="subscribe a user (by email) to a page")
    subscribe.add_argument("email")
    subscribe.add_argument("--every", choices=["day", "week"], required=True)
    subscribe.add_argument("--page", default="overview", help="path or title (default: overview)")
    subscribe.add_argument("--query", default="", help="the URL query of the filters")
    subscribe.add_argument("--period", default="Last 7 days", help="a preset of the Period filter")
    subscribe.add_argument("--hour", type=int, default=8, help="local hour (default 8)")
    subscribe.add_argument("--tz", help="time zone (default: ORCHDASH_TIMEZONE)")
    actions.add_parser("list", help="every subscription and its last message")
    send = actions.add_parser("send", help="send what is due now, or everything")
    when = send.add_mutually_exclusive_group(required=True)
    when.add_argument("--due", action="store_true", help="what is due now (the scheduler's round)")
    when.add_argument("--all", action="store_true", help="every subscription, now")
    digest.set_defaults(func=cmd_digest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "users" and args.action in ("add", "grant", "revoke") and not args.email:
        print("users add|grant|revoke needs an email", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except schema.MigrationError as error:
        # What is wrong and how to fix it, without a traceback: nothing was changed.
        print(error, file=sys.stderr)
        return 1
    except startup.StartupError as error:
        # Likewise: found before anything was migrated or started.
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
