"""`lebrq.db.backends.mysql`: a pooled connection is set up once, and again after a reconnect (MariaDB only)."""

import os
import subprocess
import sys
from contextlib import contextmanager

import MySQLdb
import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="the MySQL/MariaDB backend"),
]


@contextmanager
def queries_run(wrapper):
    """The SQL ``wrapper`` runs inside the block, connecting included (Django's `CaptureQueriesContext`
    connects before it starts capturing)."""
    wrapper.force_debug_cursor = True
    start = len(wrapper.queries_log)
    found: list[str] = []
    try:
        yield found
    finally:
        wrapper.force_debug_cursor = False
        found.extend(query["sql"] for query in list(wrapper.queries_log)[start:])


def session_isolation() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.tx_isolation")
        return cursor.fetchone()[0]


def test_a_reused_pooled_connection_runs_no_set_up_query():
    connection.ensure_connection()
    assert session_isolation() == "READ-COMMITTED"
    connection.close()  # back to the pool, still open on the server
    with queries_run(connection) as run:
        connection.ensure_connection()
        assert session_isolation() == "READ-COMMITTED"
    assert run == ["SELECT @@SESSION.tx_isolation"]


def test_server_data_is_queried_once_per_process():
    first = connection.mysql_server_data
    fresh = type(connections["default"])(connection.settings_dict, alias="default")  # a new request's wrapper
    try:
        with queries_run(fresh) as run:
            assert fresh.mysql_server_data is first
        assert run == []
    finally:
        fresh.close()


def test_a_reconnected_connection_is_set_up_again():
    connection.ensure_connection()
    old = connection.connection.driver_connection.thread_id()
    connection.close()
    params = connection.get_connection_params()
    killer = MySQLdb.connect(host=params.get("host", "127.0.0.1"), port=params.get("port", 3306),
                             user=params["user"], passwd=params.get("password", ""))  # fmt: skip
    try:
        with killer.cursor() as cursor:  # every pooled connection of this test database: the pool must reconnect
            cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", [params["database"]])
            for (thread,) in cursor.fetchall():
                cursor.execute(f"KILL {int(thread)}")
    finally:
        killer.close()
    with queries_run(connection) as run:
        connection.ensure_connection()  # the pool's pre-ping finds the connection dead and opens a new one
        assert session_isolation() == "READ-COMMITTED"
    assert connection.connection.driver_connection.thread_id() != old
    assert run == ["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "SELECT @@SESSION.tx_isolation"]


def test_a_fresh_process_runs_the_system_checks(settings):
    """The checks read the server data before any connection exists: connecting then asks for it again, in the
    same thread (a lock held across that query deadlocked `manage.py migrate`)."""
    params = connection.get_connection_params()
    url = f"mysql://{params['user']}:{params.get('password', '')}@{params.get('host', '127.0.0.1')}:"
    url += f"{params.get('port', 3306)}/{params['database']}"
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
