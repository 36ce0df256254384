"""The embedded stack's commands: clear messages for a taken port and stale pid files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.core.devstack import Postgres, StackError, Valkey


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
