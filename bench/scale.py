"""Several hosts on one machine: nginx in front of two app hosts on a shared MariaDB, Redis and S3-compatible
store, renders on a Celery worker — consistency, failover, scaling and memory measured. Run as root (CI is).

    .venv/bin/python bench/scale.py                  # 60 s failover run, 2 wrk rounds of 15 s: ~7 minutes
    .venv/bin/python bench/scale.py --quick --check  # what .ci/run runs: within 5 minutes, exit 1 on a miss

The hosts are network namespaces on a bridge (`bench/scale_hosts.py`: topology, no default route, routes
checked before any load) running the machine's own binaries with data of their own (`bench/scale_services.py`):
mariadbd (a datadir made by mariadb-install-db), redis-server, moto's S3 server (reached over HTTP only), gunicorn
with gunicorn.conf.py and one uvicorn worker per app host (each held to one core by a CPU cgroup quota, or pinned
with taskset where no cgroup can be made), the Celery render worker, nginx from deploy/nginx/lebrq.conf. The bench
itself is the machine on the bridge: its clients connect from addresses of their own (.100 + n).

Measured and printed in this order:

1. consistency: a video uploaded through app host A is read through B (one range, a suffix range, two ranges,
   the whole file against the stored SHA-256); a tax invoice fetched through A and then B is the same PDF (one
   render, the shared cache); 40 paid bookings of the past, each its own customer's, get their tax invoices at
   once through A and B alternately: the numbers are distinct and the year's serials have no gap;
2. failover: bench/load.py's clients (30, the seed's mix) through nginx for 60 s; half-way, SIGKILL to every
   process of A's gunicorn (master and worker). Targets: success ≥ 99.9 %, 100 % for GETs (nginx passes an
   idempotent request that failed on A to B: `proxy_next_upstream`, never a POST); every upload answered 201 is
   stored whole and readable through B, and, once B has run ``cleanup_storage --older-than 0`` (what the
   operator does after a host was killed: the SIGKILL may land between an object's upload and its row), no object
   without its row, row without its object, or unfinished multipart upload is left;
3. scaling: booking reads per second through nginx (wrk, 30 connections) with both app hosts as upstreams and
   with A alone, alternated in one run; the ratio is reported against 1.4×, not gated (two shared cores);
4. memory: each app host's worker RSS, sampled every second through 2 and 3: peak < 400 MB (the seed's).

Without moto and django-storages in the checkout the two checks that need the object store are reported "skipped:
backend not available", never faked, and the app hosts share one media and invoice directory instead (the NFS
layout of deploy/README.md) for the failover; without the Celery renderer they render inline (the header line
says which). ``--check`` exits 1 when
a gated target (consistency, failover, memory) is missed. Everything made — namespaces, bridge, processes,
cgroups, the datadirs and database — is removed at the end, on failure and on Ctrl-C/SIGTERM too.
"""

import argparse
import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, scale_steps  # noqa: E402
from bench.scale_checks import SKIPPED, Check, summary_line, verdict  # noqa: E402
from bench.scale_hosts import (  # noqa: E402
    RUN_DIR_PREFIX,
    Machine,
    choose_network,
    in_namespace,
    machine_networks,
    plan,
    remove_stale,
)
from bench.scale_services import (  # noqa: E402
    AppHost,
    Front,
    MariaDB,
    app_environment,
    have_tools,
    host_environment,
    object_store_available,
    renderer_available,
    start_object_store,
    start_redis,
    start_render_worker,
)

ISSUES = 40  # concurrent tax-invoice issues


def namespaces_possible() -> str | None:
    """None when network namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return "not root"
    name = f"lqs{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode:
        return f"ip netns add: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def manage(host, env: dict, code: str) -> None:
    """``manage.py shell -c code`` on ``host`` (inside its namespace, so through its routes only)."""
    command = in_namespace(host.namespace, [sys.executable, "manage.py", "shell", "-c", code])
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)


def past_paid_bookings_code(count: int) -> str:
    """Python for ``manage.py shell -c``: one paid booking of the past per account ``bench-0``…, tagged
    ``event_type="scale-check"`` (their invoices are TAX INVOICEs, numbered when first issued)."""
    return (
        "from datetime import timedelta; from django.utils import timezone; "
        "from django.contrib.auth import get_user_model; from bookings.models import Booking, Space; "
        "space = Space.objects.order_by('pk').first(); "
        "now = timezone.now().replace(minute=0, second=0, microsecond=0); "
        "Booking.objects.bulk_create(Booking(customer=get_user_model().objects.get(username=f'bench-{n}'), "
        "space=space, start_datetime=now - timedelta(days=2, hours=4 * n), "
        "end_datetime=now - timedelta(days=2, hours=4 * n - 2), status='paid', event_type='scale-check', "
        f"total_amount=2000) for n in range({count}))"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter scaling rounds and fewer bookings (≤ 5 min)")
    parser.add_argument("--check", action="store_true", help="exit 1 when consistency, failover or memory misses")
    parser.add_argument("--seconds", type=float, default=None, help="failover run length (default 60)")
    parser.add_argument("--clients", type=int, default=30, help="load clients (default 30)")
    parser.add_argument("--clean", action="store_true", help="only remove what runs killed with SIGKILL left")
    args = parser.parse_args(argv)
    seconds = args.seconds or 60
    reason = namespaces_possible()
    if reason:
        print(f"scale: skipped: network namespaces cannot be made here ({reason})")
        return 0
    if args.clean:
        for name in remove_stale():
            print(f"removed {name}, left by an earlier run that was killed")
        return 0
    missing = have_tools()
    if missing:
        print(f"scale: cannot run: {', '.join(missing)} missing (scripts/sysdeps.sh, .ci/run install them)")
        return 1
    for name in remove_stale():
        print(f"removed {name}, left by an earlier run that was killed")

    accounts = max(args.clients, ISSUES)
    topology = plan(os.getpid(), choose_network(machine_networks()), accounts)
    machine = Machine(topology, Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-")))
    atexit.register(machine.close)

    def on_signal(number, _frame):
        # Clean up here, at once: the main thread may be waiting on client threads (asyncio.to_thread), which end
        # as soon as the hosts are gone. SIGINT too: asyncio.run would otherwise turn Ctrl-C into a cancellation.
        print(f"scale: {signal.Signals(number).name}: cleaning up")
        machine.close()
        raise SystemExit(128 + number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, on_signal)
    checks: list[Check] = []
    started = time.monotonic()
    try:
        checks = run(machine, args, seconds, accounts)
    except Exception:
        traceback.print_exc()
        print("scale: FAIL: the run stopped on the error above")
        return 1
    finally:
        machine.close()
        print(f"cleaned up: namespaces, processes, datadirs ({time.monotonic() - started:.0f} s in all)")
    print(scale_steps.table(checks))
    print(summary_line(checks))
    return 1 if args.check and not verdict(checks) else 0


def run(machine: Machine, args, seconds: float, accounts: int) -> list[Check]:
    topology, directory = machine.topology, machine.directory
    set_up = time.monotonic()
    print(f"hosts on {topology.network} (bridge {topology.bridge}), files in {directory}")
    machine.build()
    problems = machine.check_routes()
    if problems:
        raise RuntimeError("routes: " + "; ".join(problems))
    print("routes: " + ", ".join(f"{a.name}→{b.name}" for a, b in scale_steps.routes(topology)) + " direct, no default")

    db = MariaDB(topology["db"], directory / "db").start(machine)
    redis_url = start_redis(machine, topology["redis"], directory / "redis", topology.operator)
    s3 = start_object_store(machine, topology["s3"], directory / "s3") if object_store_available() else None
    celery = renderer_available()
    shared = app_environment(topology, db, redis_url, s3, directory, "celery" if celery else "inline")
    renders = "Celery" if celery else "inline (no Celery renderer)"
    print(f"MariaDB {topology['db'].address}:3306, Redis {redis_url}, S3 {s3 or SKIPPED}, renders {renders}")

    apps = {}
    for cpu, name in enumerate(("app-a", "app-b")):
        host = topology[name]
        env = host_environment(shared, host, directory / name)
        apps[name] = AppHost(host, env, directory / name, machine.cpu_group(name, 1.0), cpu)
    manage(topology["app-a"], apps["app-a"].env, load.seed_code(accounts) + "; " + past_paid_bookings_code(ISSUES))
    for app in apps.values():
        app.start(machine, topology.operator)
    if celery:
        render, render_dir = topology["render"], directory / "render"
        start_render_worker(machine, render, host_environment(shared, render, render_dir), render_dir)
    isolation = scale_steps.isolation(topology["app-a"])
    if isolation:
        raise RuntimeError("isolation: " + "; ".join(isolation))
    front = Front(topology["lb"], directory / "lb", shared).start(machine, [f"{a.url[7:]}" for a in apps.values()])
    print(f"nginx {front.url} → {', '.join(a.url for a in apps.values())} (cpu quota: "
          f"{'cgroup, 1 core each' if apps['app-a'].cgroup else 'taskset, one CPU each'})")  # fmt: skip

    began = time.monotonic()
    print(f"hosts, services and data up in {began - set_up:.0f} s")

    def step(name: str) -> None:
        print(f"{name} ({time.monotonic() - began:.0f} s after the hosts were up)")

    step("1. consistency")
    checks = scale_steps.consistency(topology, apps, front, db, s3, ISSUES)
    step("2. failover: preparing the load's accounts and bookings")
    fixture = scale_steps.load_fixture(topology, front, args.clients, bookings=5 if args.quick else 30)
    with scale_steps.RSSRecorder(apps) as rss:
        checks += scale_steps.failover(topology, apps, front, db, s3, fixture, seconds)
        apps["app-a"].start(machine, topology.operator)  # back for the scaling step
        step("3. scaling")
        checks += scale_steps.scaling(front, apps, fixture, rounds=1 if args.quick else 2,
                                      seconds=6 if args.quick else 15)  # fmt: skip
    step("4. memory")
    checks += scale_steps.memory(rss)
    return checks


if __name__ == "__main__":
    sys.exit(main())
