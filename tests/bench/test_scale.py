"""The pure parts of `bench/scale.py`: the hosts' plan (names, addresses, ``ip`` commands, routes) and the figures'
checks (gapless invoice numbers, success rates, upload reconciliation, scaling ratio, verdict, last line). The run
itself needs root and namespaces: `.ci/run` runs ``bench/scale.py --quick --check``."""

import ipaddress
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scale_checks import (  # noqa: E402
    SKIPPED,
    Check,
    gapless,
    invoice_serial,
    reconcile,
    scaling_ratio,
    success_percent,
    summary_line,
    verdict,
)
from bench.scale_hosts import (  # noqa: E402
    choose_network,
    needed_routes,
    plan,
    route_reaches,
    setup_commands,
    teardown_commands,
)

NETWORK = ipaddress.IPv4Network("10.151.0.0/24")


def test_plan_names_and_addresses():
    topology = plan(4242, NETWORK, clients=3)
    assert topology.bridge == "lqs4242br"
    assert topology.operator == "10.151.0.1"
    assert topology.clients == ("10.151.0.100", "10.151.0.101", "10.151.0.102")
    assert [(h.name, h.namespace, h.address, h.veth) for h in topology.hosts] == [
        ("db", "lqs4242-db", "10.151.0.20", "lqs4242v0"),
        ("redis", "lqs4242-redis", "10.151.0.21", "lqs4242v1"),
        ("s3", "lqs4242-s3", "10.151.0.22", "lqs4242v2"),
        ("app-a", "lqs4242-app-a", "10.151.0.11", "lqs4242v3"),
        ("app-b", "lqs4242-app-b", "10.151.0.12", "lqs4242v4"),
        ("render", "lqs4242-render", "10.151.0.13", "lqs4242v5"),
        ("lb", "lqs4242-lb", "10.151.0.10", "lqs4242v6"),
    ]
    assert topology["lb"].address == "10.151.0.10"
    with pytest.raises(KeyError):
        topology["nowhere"]


def test_plan_refuses_names_linux_cannot_take_and_too_many_clients():
    assert plan(4194304, NETWORK, 1).bridge == "lqs4194304br"  # the largest pid (pid_max): 12 characters
    with pytest.raises(ValueError, match="longer than 15"):
        plan(10**10, NETWORK, 1)
    with pytest.raises(ValueError, match="clients must be 1 to 150"):
        plan(1, NETWORK, 151)


def test_choose_network_skips_the_machines_networks():
    used = [ipaddress.IPv4Network("10.151.0.0/24"), ipaddress.IPv4Network("10.151.1.128/25")]
    assert choose_network(used) == ipaddress.IPv4Network("10.151.2.0/24")
    assert choose_network([]) == ipaddress.IPv4Network("10.151.0.0/24")
    for taken in ("10.151.0.0/16", "10.0.0.0/8"):
        with pytest.raises(RuntimeError, match="no free"):
            choose_network([ipaddress.IPv4Network(taken)])


def test_setup_commands_add_no_route_and_teardown_removes_everything():
    topology = plan(7, NETWORK, clients=1)
    commands = setup_commands(topology)
    assert commands[:4] == [
        ["ip", "link", "add", "lqs7br", "type", "bridge"],
        ["ip", "addr", "add", "10.151.0.1/24", "dev", "lqs7br"],
        ["ip", "addr", "add", "10.151.0.100/24", "dev", "lqs7br"],
        ["ip", "link", "set", "lqs7br", "up"],
    ]
    assert commands[4:10] == [
        ["ip", "netns", "add", "lqs7-db"],
        ["ip", "link", "add", "lqs7v0", "type", "veth", "peer", "name", "eth0", "netns", "lqs7-db"],
        ["ip", "link", "set", "lqs7v0", "master", "lqs7br", "up"],
        ["ip", "-n", "lqs7-db", "addr", "add", "10.151.0.20/24", "dev", "eth0"],
        ["ip", "-n", "lqs7-db", "link", "set", "eth0", "up"],
        ["ip", "-n", "lqs7-db", "link", "set", "lo", "up"],
    ]
    assert len(commands) == 4 + 6 * 7
    assert not [command for command in commands if "route" in command]
    assert teardown_commands(topology) == [
        *(["ip", "netns", "del", f"lqs7-{name}"] for name in ("db", "redis", "s3", "app-a", "app-b", "render", "lb")),
        ["ip", "link", "del", "lqs7br"],
    ]


def test_needed_routes_and_their_check():
    pairs = [(a.name, b.name) for a, b in needed_routes(plan(7, NETWORK, 1))]
    assert pairs == [
        ("lb", "app-a"), ("lb", "app-b"),
        ("app-a", "db"), ("app-a", "redis"), ("app-a", "s3"),
        ("app-b", "db"), ("app-b", "redis"), ("app-b", "s3"),
        ("render", "db"), ("render", "redis"), ("render", "s3"),
    ]  # fmt: skip
    assert route_reaches("10.151.0.20 dev eth0 src 10.151.0.11 uid 0 \n    cache \n", "10.151.0.20")
    assert not route_reaches("10.151.0.20 via 10.151.0.1 dev eth0 src 10.151.0.11 uid 0", "10.151.0.20")
    assert not route_reaches("10.151.0.200 dev eth0 src 10.151.0.11 uid 0", "10.151.0.20")
    assert not route_reaches("", "10.151.0.20")


def test_gapless_invoice_numbers():
    assert invoice_serial("LB/26-27/000123") == ("26-27", 123)
    numbers = [f"LB/26-27/{n:06d}" for n in (3, 1, 2)] + ["LB/25-26/000001"]
    assert gapless(numbers) == (True, "25-26: 1–1, 26-27: 1–3")
    assert gapless(["LB/26-27/000001", "LB/26-27/000003"]) == (False, "26-27: serials missing [2]")
    assert gapless(["LB/26-27/000001", "LB/26-27/000001"]) == (False, "repeated: LB/26-27/000001")
    assert gapless(["LB/26-27/000002"]) == (False, "26-27: serials missing [1]")


def test_success_percent_counts_gets_and_failed_posts():
    rows = [("GET", 200, 200)] * 997 + [("GET", 502, 200), ("POST", 0, 201), ("POST", 201, 201)]
    overall, gets, failed_posts = success_percent(rows)
    assert overall == pytest.approx(99.8)
    assert gets == pytest.approx(100 * 997 / 998)
    assert failed_posts == 1
    assert success_percent([]) == (100.0, 100.0, 0)


def test_reconcile_finds_orphans_on_both_sides_and_unfinished_uploads():
    rows = {"a.jpg": 10, "b.jpg": 20, "c.jpg": 30}
    objects = {"a.jpg": 10, "b.jpg": 21, "d.jpg": 5}
    assert reconcile(rows, objects, unfinished=2) == [
        "object without a row: d.jpg",
        "row without its object: c.jpg",
        "b.jpg: 21 bytes stored, row says 20",
        "2 unfinished multipart upload(s)",
    ]
    assert reconcile(rows, dict(rows), 0) == []


def test_scaling_ratio_is_of_medians():
    assert scaling_ratio([100.0, 90.0, 300.0], [150.0, 160.0]) == pytest.approx(155 / 100)
    assert scaling_ratio([], [1.0]) == 0.0
    assert scaling_ratio([0.0], [1.0]) == 0.0


def test_verdict_and_summary_line():
    checks = [
        Check("consistency", "numbers", "gapless", "1–40", True),
        Check("consistency", "upload", "same bytes", SKIPPED, None),
        Check("failover", "success", "≥ 99.9 %", "99.95 % of 2000", True, short="99.95 %"),
        Check("failover", "uploads", "consistent", "ok", True),
        Check("scaling", "reads", "≥ 1.4×", "1.10× (110 vs 100 reads/s)", False, gated=False, short="1.10×"),
        Check("memory", "app-a worker RSS", "< 400 MB", "peak 190 MB", True, short="app-a 190 MB"),
    ]
    assert verdict(checks)
    assert summary_line(checks) == (
        "scale: consistency 1/1 met, 1 skipped | failover 2/2 met (99.95 %) | scaling 0/1 met (1.10×) | "
        "memory 1/1 met (app-a 190 MB) | PASS"
    )
    missed = [*checks, Check("failover", "GET success", "100 %", "99.90 %", False)]
    assert not verdict(missed)
    assert summary_line(missed).endswith("| FAIL")
    assert not verdict([])
    assert summary_line([]) == (
        "scale: consistency not run | failover not run | scaling not run | memory not run | FAIL"
    )
