"""`lebrq.http.executor`: a bounded set of long-lived request threads that keep their DB connections."""

import asyncio
import threading
import time

import pytest
from django.db import connection, connections

from lebrq.http.executor import RequestThreads, RequestThreadTimeout


@pytest.fixture
def make_threads():
    made: list[RequestThreads] = []

    def make(size: int, wait_timeout: float = 5.0) -> RequestThreads:
        made.append(RequestThreads(size, wait_timeout, name="test-request"))
        return made[-1]

    yield make
    for threads in made:

        async def close_connections(threads=threads):
            await asyncio.gather(*(threads.run(connections.close_all) for _ in range(threads.size)))

        if threads.thread_idents:
            asyncio.run(close_connections())
        threads.shutdown()


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="request threads must be >= 1, got 0"):
        RequestThreads(0, 1.0)


def test_at_most_size_calls_run_at_once_on_the_same_threads(make_threads):
    threads = make_threads(2)
    running, peak, lock = 0, 0, threading.Lock()

    def work(number):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return number, threading.get_ident()

    async def main():
        first = await asyncio.gather(*(threads.run(work, n) for n in range(10)))
        second = await asyncio.gather(*(threads.run(work, n) for n in range(10)))
        return first + second

    results = asyncio.run(main())
    assert [number for number, _ in results] == list(range(10)) * 2
    assert peak == 2
    assert {ident for _, ident in results} == set(threads.thread_idents)
    assert len(threads.thread_idents) == 2
    assert threads.busy == 0


def test_exceptions_reach_the_caller(make_threads):
    threads = make_threads(1)

    def fail():
        raise LookupError("nope")

    async def main():
        with pytest.raises(LookupError, match="nope"):
            await threads.run(fail)
        return await threads.run(lambda: "next")

    assert asyncio.run(main()) == "next"


def test_a_caller_that_waits_longer_than_the_timeout_gets_request_thread_timeout(make_threads):
    threads = make_threads(1, wait_timeout=0.2)
    release = threading.Event()

    async def main():
        held = asyncio.ensure_future(threads.run(release.wait, 10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(RequestThreadTimeout, match=r"no request thread came free within 0\.2 s"):
            await threads.run(lambda: None)
        waited = time.monotonic() - started
        assert threads.busy_elsewhere() == 1
        release.set()
        assert await held is True
        return waited

    waited = asyncio.run(main())
    assert 0.2 <= waited < 1.0
    assert threads.busy == 0


def test_a_cancelled_caller_frees_the_thread_only_when_its_work_is_done(make_threads):
    threads = make_threads(1, wait_timeout=5)
    release = threading.Event()

    async def main():
        held = asyncio.ensure_future(threads.run(release.wait, 10))
        await asyncio.sleep(0.05)
        held.cancel()
        await asyncio.sleep(0.05)
        assert threads.busy == 1  # the thread is still inside release.wait
        waiting = asyncio.ensure_future(threads.run(lambda: "after"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        release.set()
        return await waiting

    assert asyncio.run(main()) == "after"
    assert threads.busy == 0


def test_a_cancelled_caller_that_outlives_its_cancel_returns_when_the_work_is_done(make_threads):
    threads = make_threads(1, wait_timeout=5)
    events: list[str] = []

    def work():
        time.sleep(0.3)
        events.append("work done")
        raise ValueError("nobody reads this")  # retrieved: asyncio logs no "exception was never retrieved"

    async def main():
        held = asyncio.ensure_future(threads.run(work, outlive_cancel=True))
        await asyncio.sleep(0.05)
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        events.append("caller cancelled")

    asyncio.run(main())
    assert events == ["work done", "caller cancelled"]
    assert threads.busy == 0


def test_a_caller_that_outlives_its_cancel_stops_at_once_while_waiting_for_a_thread(make_threads):
    threads = make_threads(1, wait_timeout=5)
    release = threading.Event()
    ran: list[str] = []

    async def main():
        holder = asyncio.ensure_future(threads.run(release.wait, 10))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(threads.run(ran.append, "never", outlive_cancel=True))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        cancelled_while_held = threads.busy
        release.set()
        await holder
        return cancelled_while_held

    assert asyncio.run(main()) == 1
    assert ran == []
    assert threads.busy == 0


@pytest.mark.django_db(transaction=True)
def test_a_thread_keeps_its_database_connection_across_calls(make_threads):
    threads = make_threads(1)

    def connection_identity():
        with connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute("SELECT CONNECTION_ID()")
                return cursor.fetchone()[0], connection.connection
            cursor.execute("SELECT 1")
            return None, connection.connection

    async def main():
        return [await threads.run(connection_identity) for _ in range(3)]

    (first_id, first), *rest = asyncio.run(main())
    assert all(raw is first and number == first_id for number, raw in rest)


@pytest.mark.django_db(transaction=True)
def test_a_killed_connection_is_replaced_on_the_next_call(make_threads):
    if connection.vendor != "mysql":
        pytest.skip("MariaDB: KILL of the server connection")
    threads = make_threads(1)

    def connection_id():
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            return cursor.fetchone()[0]

    killed = asyncio.run(threads.run(connection_id))
    with connection.cursor() as cursor:  # the test's own connection
        cursor.execute(f"KILL {int(killed)}")
    replaced = asyncio.run(threads.run(connection_id))  # pinged first (CONN_HEALTH_CHECKS): reconnects
    assert replaced != killed
    assert asyncio.run(threads.run(connection_id)) == replaced


@pytest.mark.django_db(transaction=True)
def test_an_obsolete_connection_is_replaced_at_the_start_of_a_call(make_threads):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite database's connection")
    threads = make_threads(1)

    def identity():
        connection.ensure_connection()
        return connection.connection  # kept alive here, so a new connection cannot reuse its id

    def expire():
        connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE

    async def main():
        before = await threads.run(identity)
        await threads.run(expire)
        return before, await threads.run(identity)

    before, after = asyncio.run(main())
    assert before is not after


def test_the_handler_takes_over_djangos_per_request_connection_receivers():
    from django.core import signals
    from django.db import close_old_connections, reset_queries

    from lebrq.http.asgi_handler import TempDirASGIHandler

    TempDirASGIHandler()
    started, _ = signals.request_started._live_receivers(None)
    finished, _ = signals.request_finished._live_receivers(None)
    assert reset_queries not in started
    assert close_old_connections not in started
    assert close_old_connections not in finished


def test_the_process_threads_are_sized_to_the_pool(settings, monkeypatch):
    import lebrq.http.executor as executor

    monkeypatch.setattr(executor, "_request_threads", None)
    settings.DB_POOL_SIZE, settings.DB_MAX_OVERFLOW, settings.DB_POOL_TIMEOUT = 3, 3, 7.5  # the seed's rollback
    threads = executor.request_threads()
    assert (threads.size, threads.wait_timeout) == (6, 7.5)
    assert executor.request_threads() is threads


def test_stop_iteration_reaches_the_caller_as_runtime_error(make_threads):
    threads = make_threads(1)

    async def main():
        with pytest.raises(RuntimeError, match="StopIteration raised in a request thread"):
            await threads.run(next, iter(()))
        return await threads.run(lambda: "next")

    assert asyncio.run(main()) == "next"
