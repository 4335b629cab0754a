"""The project's MySQL/MariaDB backend: dj_db_conn_pool's pooled mysqlclient wrapper that sets a pooled
connection up once, not on every checkout.

Each request thread (`lebrq.http.executor`) keeps its `DatabaseWrapper` and, with it, one pooled connection for
up to ``CONN_MAX_AGE`` seconds; other threads (management commands, tests) get wrappers of their own, and a
closed wrapper gives its connection back to the pool, whose next user gets it already set up. Django's stock
wrapper would run two round trips on each new wrapper or connection before its first query:

- ``SELECT VERSION(), @@sql_mode, …`` for `mysql_server_data`, a cached property of the wrapper object. It is
  kept here once per process for each database alias (server version, SQL mode and time-zone tables do not change
  under a running worker; restart the workers after changing them on the server).
- ``SET SESSION TRANSACTION ISOLATION LEVEL …`` (and ``SQL_AUTO_IS_NULL``) in `init_connection_state`. Session
  variables live as long as the server connection, so this runs once per physical connection, which is
  marked when done. A reconnect (pre-ping after a server restart, recycle) is a new connection object: set up
  again.
"""

from dj_db_conn_pool.backends.mysql import base as pooled
from django.db.backends.mysql import base as stock
from django.utils.functional import cached_property

#: Attribute set on a mysqlclient connection once its session has been set up.
SESSION_READY = "_lebrq_session_ready"

_server_data: dict[str, dict] = {}  # alias → Django's mysql_server_data


class DatabaseWrapper(pooled.DatabaseWrapper):
    """Pooled mysqlclient connections (SQLAlchemy QueuePool, ``POOL_OPTIONS``) set up once each."""

    @cached_property
    def mysql_server_data(self) -> dict:
        """Django's server data (version, sql_mode, …), queried once per process for this database alias."""
        key = self.alias  # one database alias, one server and one set of OPTIONS (sql_mode)
        data = _server_data.get(key)
        if data is None:
            # No lock held while querying: the query may connect, and connecting asks for this again (Django's
            # version check), in this thread. Two threads may both query once; the first answer is kept.
            data = _server_data.setdefault(key, stock.DatabaseWrapper.mysql_server_data.func(self))
        return data

    def init_connection_state(self) -> None:
        """Django's session set-up, on a connection's first checkout only."""
        raw = self.connection.driver_connection
        if getattr(raw, SESSION_READY, False):
            return
        super().init_connection_state()
        setattr(raw, SESSION_READY, True)
