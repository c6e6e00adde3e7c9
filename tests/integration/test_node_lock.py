"""`Database.exclusive`, the node-wide lock the witness takes (services/witness.py), between two
connections as two processes of one node hold them: on PostgreSQL an advisory lock, on a SQLite
file an flock. A holder killed with SIGKILL releases it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from hcx.storage.db import make_engine
from hcx.storage.unit_of_work import Database
from tests.conftest import PG_URL


def _url(database: Database) -> str:
    """The database's URL for an engine, and locks, of another process (advisory locks are per
    database, whatever the schema)."""
    url = PG_URL if database.engine.dialect.name == "postgresql" else \
        database.engine.url.render_as_string(hide_password=False)
    assert url
    return url


def test_a_second_holder_waits_for_the_first(database: Database) -> None:
    other = Database(make_engine(_url(database)))
    events: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with database.exclusive("hcx.test"):
            inside.set()
            time.sleep(0.5)
            events.append("first released")

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(10)
    with other.exclusive("hcx.other-name"):  # another lock: no wait
        events.append("other name taken")
    with other.exclusive("hcx.test"):
        events.append("second taken")
    holder.join()
    other.engine.dispose()
    assert events == ["other name taken", "first released", "second taken"]


def test_a_killed_holder_releases_the_lock(database: Database) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from hcx.storage.db import make_engine\nfrom hcx.storage.unit_of_work import Database\n"
         "lock = Database(make_engine(sys.argv[1])).exclusive('hcx.test')\nlock.__enter__()\n"
         "print('held', flush=True)\ntime.sleep(60)\n", _url(database)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        taken = threading.Event()

        def take() -> None:
            with database.exclusive("hcx.test"):
                taken.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not taken.wait(0.5)  # the live holder keeps it
        holder.kill()
        holder.wait(10)
        assert taken.wait(10)  # its death released it
        waiter.join(10)
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
