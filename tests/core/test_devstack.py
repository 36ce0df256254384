"""The embedded stack's commands: clear messages for a taken or shared port, stale pid files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.devstack import Postgres, StackError, Valkey, check_ports, child_env, down
from tests.pg import connect, owner_connect


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("service", [Postgres, Valkey])
def test_taken_port_gives_a_clear_message_and_starts_nothing(
    service: type[Postgres | Valkey], taken_port: int, tmp_path: Path
) -> None:
    server = service(data=tmp_path / "data", port=taken_port)
    with pytest.raises(StackError) as excinfo:
        server.start()
    message = str(excinfo.value)
    assert f"Port {taken_port} is taken by pid {os.getpid()}" in message
    assert "DEV_PG_PORT" in message or "DEV_VALKEY_PORT" in message
    assert not (tmp_path / "data").exists()


def test_stale_pid_files_are_not_taken_for_running_servers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    valkey = Valkey(data=tmp_path / "valkey")
    valkey.data.mkdir()
    valkey.pidfile.write_text(f"{dead.pid}\n")
    assert valkey.pid() is None
    # A live pid that belongs to some other program is not ours either.
    valkey.pidfile.write_text(f"{os.getpid()}\n")
    assert valkey.pid() is None
    postgres = Postgres(data=tmp_path / "pg")
    postgres.data.mkdir()
    (postgres.data / "postmaster.pid").write_text(f"{dead.pid}\n/some/dir\n")
    assert postgres.pid() is None
    assert "stopped" in postgres.describe()


def test_status_reports_the_running_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apps.core.devstack", "status"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("postgres  running  pid ")
    assert lines[1].startswith("valkey    running  pid ")
    assert lines[2].startswith("provider  running  pid ")


def test_a_shared_port_names_both_settings_and_the_one_set_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "18080")
    monkeypatch.delenv("LOCAL_PROVIDER_PORT", raising=False)
    ports = {"DEV_PG_PORT": 54329, "DEV_VALKEY_PORT": 63799, "LOCAL_PROVIDER_PORT": 18080}
    with pytest.raises(StackError) as excinfo:
        check_ports({**ports, "PORT": 18080})
    assert str(excinfo.value) == (
        "LOCAL_PROVIDER_PORT and PORT are both 18080, but each server of the dev stack "
        "needs a port of its own. Set PORT to another port."
    )
    check_ports({**ports, "PORT": 8000})


def _stack_ports() -> dict[str, int]:
    """Free ports for the three servers: should a regression start them, they clash with
    no running stack."""
    sockets = [socket.socket() for _ in range(3)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return dict(zip(("DEV_PG_PORT", "DEV_VALKEY_PORT", "LOCAL_PROVIDER_PORT"), ports, strict=True))


def _devstack(action: str, devdata: Path, **settings: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVDATA_DIR": str(devdata), **{k: str(v) for k, v in settings.items()}}
    return subprocess.run(
        [sys.executable, "-m", "apps.core.devstack", action],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_run_refuses_a_web_port_the_local_provider_uses_and_starts_nothing(
    tmp_path: Path,
) -> None:
    ports = _stack_ports()
    provider = ports["LOCAL_PROVIDER_PORT"]
    result = _devstack("run", tmp_path / "devdata", **ports, PORT=provider)
    assert result.returncode == 1
    assert result.stderr == (
        f"devstack: LOCAL_PROVIDER_PORT and PORT are both {provider}, but each server of "
        "the dev stack needs a port of its own. Set LOCAL_PROVIDER_PORT or PORT to another "
        "port.\n"
    )
    assert not (tmp_path / "devdata").exists()


def test_up_refuses_two_servers_on_one_port_and_starts_nothing(tmp_path: Path) -> None:
    ports = _stack_ports()
    shared = ports["DEV_PG_PORT"]
    result = _devstack("up", tmp_path / "devdata", **{**ports, "DEV_VALKEY_PORT": shared})
    assert result.returncode == 1
    assert f"DEV_PG_PORT and DEV_VALKEY_PORT are both {shared}" in result.stderr
    assert not (tmp_path / "devdata").exists()


def test_run_names_the_program_that_holds_the_web_port_and_starts_nothing(
    taken_port: int, tmp_path: Path
) -> None:
    result = _devstack("run", tmp_path / "devdata", **_stack_ports(), PORT=taken_port)
    assert result.returncode == 1
    assert f"Port {taken_port} is taken by pid {os.getpid()}" in result.stderr
    assert "set PORT to a free port" in result.stderr
    assert not (tmp_path / "devdata").exists()


def test_the_owner_drops_a_database_a_runtime_session_still_holds(django_db_setup: None) -> None:
    """What the test session's teardown does when a thread still holds a connection:
    the devstack grants the owner pg_signal_backend, so DROP ... WITH (FORCE) ends it."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with owner_connect("postgres") as owner:
        owner.execute(f'CREATE DATABASE "{name}"')
    runtime = settings.DATABASES["default"]
    held = connect(runtime, name, autocommit=False)
    try:
        with owner_connect("postgres") as owner:
            owner.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            left = owner.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            assert left.fetchone() is None
    finally:
        held.close()


def test_run_links_its_emails_to_the_port_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8147")
    monkeypatch.delenv("SITE_URL", raising=False)
    assert child_env(setup=True)["SITE_URL"] == "http://127.0.0.1:8147"
    assert child_env(setup=True)["WEB_PORT"] == "8147"
    assert "SITE_URL" not in child_env(setup=False)  # exec: the settings' default applies
    monkeypatch.setenv("SITE_URL", "https://app.example.com")
    assert child_env(setup=True)["SITE_URL"] == "https://app.example.com"


def test_stopping_says_so_on_stderr_so_execs_stdout_is_the_commands_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Stopped:
        """A service that was running: ``stop()`` stopped it (no real server is touched)."""

        name = "valkey"

        def stop(self) -> bool:
            return True

    down([Stopped()])  # type: ignore[list-item]
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "stopped valkey\n"


def test_run_seeds_a_demo_password_that_starts_with_a_dash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """token_urlsafe gives a password starting with "-" about once in 64 starts; make run
    once stopped there, argparse taking it for an option."""
    from apps.core import devstack
    from apps.tenants.management.commands.seed_demo import Command

    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr(devstack, "up", lambda: [])
    monkeypatch.setattr(devstack, "down", lambda started=None: None)
    monkeypatch.setattr(devstack, "_manage", lambda *args: seen.append(args))
    monkeypatch.setenv("DEMO_PASSWORD", "-kw1Yho5dI9zRQYf")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert devstack.execute([sys.executable, "-c", "pass"], setup=True) == 0
    [seed] = [args for args in seen if args[0] == "seed_demo"]
    options = Command().create_parser("manage.py", "seed_demo").parse_args(seed[1:])
    assert options.password == "-kw1Yho5dI9zRQYf"
