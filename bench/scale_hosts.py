"""The hosts of bench/scale.py on one machine: network namespaces on a bridge, and what runs in each.

Planning is pure (`plan`, `setup_commands`, `teardown_commands`, `needed_routes`, `route_reaches`): names,
addresses and the ``ip`` commands, tested in tests/bench/test_scale.py. `Machine` carries them out and undoes
them: every namespace, bridge, process, cgroup and directory it makes is recorded and removed by `Machine.close`
(also called from atexit and on SIGINT/SIGTERM by bench/scale.py); `remove_stale` clears what a run killed with
SIGKILL left behind (its namespaces, bridge, cgroups and directory carry its pid).

Topology (one /24, no default route anywhere; each namespace reaches the others through its ``eth0`` on the
bridge, and nothing else — the machine's own MariaDB, Redis and RabbitMQ listen on its 127.0.0.1, which a
namespace's loopback is not):

| host | address | runs |
| --- | --- | --- |
| (the machine) | .1, clients .100 + n | the bench: its HTTP clients, wrk, the checks |
| lb | .10 | nginx, deploy/nginx/lebrq.conf rendered with both app hosts as upstreams |
| app-a, app-b | .11, .12 | gunicorn (gunicorn.conf.py, one uvicorn worker), each held to one core |
| render | .13 | the Celery render worker (INVOICE_RENDERER=celery) |
| db | .20 | mariadbd, its own datadir made by mariadb-install-db |
| redis | .21 | redis-server, its own port and dir, no persistence |
| s3 | .22 | moto in server mode (S3 over HTTP), when installed |
"""

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: (name, last octet, what it is): the hosts of a run, in start order.
HOSTS = (
    ("db", 20, "MariaDB"),
    ("redis", 21, "Redis"),
    ("s3", 22, "S3-compatible object store (moto server)"),
    ("app-a", 11, "app host (gunicorn, 1 worker)"),
    ("app-b", 12, "app host (gunicorn, 1 worker)"),
    ("render", 13, "render worker (Celery)"),
    ("lb", 10, "load balancer (nginx)"),
)
#: Which hosts each host must reach: checked with ``ip route get`` before any load (`needed_routes`).
PEERS = {
    "lb": ("app-a", "app-b"),
    "app-a": ("db", "redis", "s3"),
    "app-b": ("db", "redis", "s3"),
    "render": ("db", "redis", "s3"),
}
OPERATOR_OCTET = 1  # the bridge's own address: the machine's side, where the bench runs
FIRST_CLIENT_OCTET = 100  # client N connects from .100 + N
MAX_CLIENTS = 150
IFNAMSIZ = 15  # longest Linux interface name
NAME_PREFIX = "lqs"  # namespaces lqs<pid>-<host>, bridge lqs<pid>br, veths lqs<pid>v<n>
STALE = re.compile(rf"^{NAME_PREFIX}(\d+)(?:-|br|v)")
RUN_DIR_PREFIX = "lebrq-scale-"  # a run's directory: <tmp>/lebrq-scale-<pid>-<random>
UNROUTABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): only a default route would lead there


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    namespace: str
    address: str
    veth: str  # the root-side end of its veth pair (the namespace's end is eth0)


@dataclass(frozen=True)
class Topology:
    run_id: int
    network: ipaddress.IPv4Network
    bridge: str
    operator: str
    clients: tuple[str, ...]
    hosts: tuple[Host, ...]

    def __getitem__(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def choose_network(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first 10.151.N.0/24 (N = 0…255) that overlaps none of ``used`` (the machine's networks).

    Raises RuntimeError when all 256 are taken."""
    for third in range(256):
        candidate = ipaddress.IPv4Network(f"10.151.{third}.0/24")
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise RuntimeError("no free 10.151.N.0/24 network for the bench hosts")


def plan(run_id: int, network: ipaddress.IPv4Network, clients: int) -> Topology:
    """Names and addresses of a run: one namespace per host of `HOSTS`, ``clients`` client addresses.

    Raises ValueError for more than `MAX_CLIENTS` clients or a run id that makes an interface name longer than
    IFNAMSIZ (15)."""
    if not 0 < clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be 1 to {MAX_CLIENTS}")
    base = f"{NAME_PREFIX}{run_id}"
    bridge = f"{base}br"
    hosts = tuple(
        Host(name, role, f"{base}-{name}", str(network[octet]), f"{base}v{index}")
        for index, (name, octet, role) in enumerate(HOSTS)
    )
    if max(len(bridge), *(len(host.veth) for host in hosts)) > IFNAMSIZ:
        raise ValueError(f"run id {run_id} makes interface names longer than {IFNAMSIZ} characters")
    return Topology(
        run_id=run_id,
        network=network,
        bridge=bridge,
        operator=str(network[OPERATOR_OCTET]),
        clients=tuple(str(network[FIRST_CLIENT_OCTET + n]) for n in range(clients)),
        hosts=hosts,
    )


def setup_commands(topology: Topology) -> list[list[str]]:
    """The ``ip`` commands that build ``topology``: the bridge with the machine's addresses, then per host a
    namespace, a veth pair (``eth0`` inside) on the bridge and the host's address. No route is added: each side
    has only the connected /24 (and its loopback)."""
    prefix = topology.network.prefixlen
    commands = [["ip", "link", "add", topology.bridge, "type", "bridge"]]
    for address in (topology.operator, *topology.clients):
        commands.append(["ip", "addr", "add", f"{address}/{prefix}", "dev", topology.bridge])
    commands.append(["ip", "link", "set", topology.bridge, "up"])
    for host in topology.hosts:
        commands += [
            ["ip", "netns", "add", host.namespace],
            ["ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace],
            ["ip", "link", "set", host.veth, "master", topology.bridge, "up"],
            ["ip", "-n", host.namespace, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0"],
            ["ip", "-n", host.namespace, "link", "set", "eth0", "up"],
            ["ip", "-n", host.namespace, "link", "set", "lo", "up"],
        ]
    return commands


def teardown_commands(topology: Topology) -> list[list[str]]:
    """The ``ip`` commands that remove ``topology``: each namespace (its veth pair goes with it), then the bridge."""
    return [["ip", "netns", "del", host.namespace] for host in topology.hosts] + [
        ["ip", "link", "del", topology.bridge]
    ]


def needed_routes(topology: Topology) -> list[tuple[Host, Host]]:
    """(from, to) for every pair of `PEERS`: the routes checked before load."""
    return [(topology[name], topology[peer]) for name, peers in PEERS.items() for peer in peers]


def route_reaches(output: str, address: str) -> bool:
    """Whether ``ip route get ADDRESS`` printed a direct route to it through ``eth0`` (no gateway): e.g.
    ``10.151.0.20 dev eth0 src 10.151.0.11 uid 0``."""
    first = output.strip().splitlines()[0] if output.strip() else ""
    return first.startswith(f"{address} dev eth0 ") and " via " not in first


def in_namespace(namespace: str, command: list[str]) -> list[str]:
    """``command`` run inside ``namespace`` (``ip netns exec`` execs it: the process id is the command's)."""
    return ["ip", "netns", "exec", namespace, *command]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie, waiting to be reaped, has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def run(command: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=timeout)


def machine_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of the machine's addresses (``ip -4 -o addr``)."""
    output = run(["ip", "-4", "-o", "addr"]).stdout
    return [ipaddress.IPv4Interface(match).network for match in re.findall(r"inet (\S+)", output)]


def remove_stale() -> list[str]:
    """Remove the namespaces and bridges of earlier runs whose process is gone (killed with SIGKILL), killing
    the processes left in those namespaces first; returns their names."""
    removed = []
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = STALE.match(name)
        if match and not pid_alive(int(match[1])):
            for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
                _kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    for line in run(["ip", "-o", "link", "show", "type", "bridge"]).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        match = STALE.match(name)
        if match and not pid_alive(int(match[1])):
            run(["ip", "link", "del", name], check=False)
            removed.append(name)
    root = cpu_cgroup_root()
    for group in sorted(root.glob(f"{NAME_PREFIX}*")) if root else ():
        match = STALE.match(group.name)
        if match and not pid_alive(int(match[1])):
            for pid in (group / "cgroup.procs").read_text().split():
                _kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                time.sleep(0.2)
                group.rmdir()
                removed.append(str(group))
    for directory in sorted(Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*")):
        match = re.match(rf"{RUN_DIR_PREFIX}(\d+)-", directory.name)
        if match and not pid_alive(int(match[1])):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(str(directory))
    return removed


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def cpu_cgroup_root() -> Path | None:
    """The cgroup-v1 ``cpu`` hierarchy or the cgroup-v2 root where a child group can be made, or None."""
    for candidate in (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")):
        quota = "cpu.cfs_quota_us" if candidate.name == "cpu" else "cgroup.subtree_control"
        if (candidate / quota).exists() and os.access(candidate, os.W_OK):
            if candidate.name != "cpu" and "cpu" not in (candidate / "cgroup.controllers").read_text():
                continue
            return candidate
    return None


@dataclass
class Machine:
    """Builds a `Topology` and runs processes in it; `close` removes all of it (idempotent)."""

    topology: Topology
    directory: Path  # every datadir, log and config of the run
    processes: list[subprocess.Popen] = field(default_factory=list)
    cgroups: list[Path] = field(default_factory=list)
    built: bool = False
    closed: bool = False

    def build(self) -> None:
        self.built = True  # from the first command on, close() undoes what exists
        for command in setup_commands(self.topology):
            run(command)

    def check_routes(self) -> list[str]:
        """Problems found (empty when every route is right): a namespace with a default route, one that reaches
        TEST-NET-1, a needed peer not reached directly through eth0."""
        problems = []
        for host in self.topology.hosts:
            if run(["ip", "-n", host.namespace, "route", "show", "default"]).stdout.strip():
                problems.append(f"{host.name} has a default route")
            if run(["ip", "-n", host.namespace, "route", "get", UNROUTABLE], check=False).returncode == 0:
                problems.append(f"{host.name} has a route to {UNROUTABLE}")
        for source, target in needed_routes(self.topology):
            output = run(["ip", "-n", source.namespace, "route", "get", target.address], check=False).stdout
            if not route_reaches(output, target.address):
                problems.append(f"{source.name} → {target.name} ({target.address}): {output.strip() or 'no route'}")
        return problems

    def cpu_group(self, name: str, cores: float) -> Path | None:
        """A CPU cgroup for ``name`` limited to ``cores`` cores (CFS quota), or None where none can be made."""
        root = cpu_cgroup_root()
        if root is None:
            return None
        group = root / f"{NAME_PREFIX}{self.topology.run_id}-{name}"
        group.mkdir(exist_ok=True)
        self.cgroups.append(group)
        period = 100_000
        if root.name == "cpu":
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(int(cores * period)))
        else:
            (group / "cpu.max").write_text(f"{int(cores * period)} {period}")
        return group

    def start(
        self,
        host: Host,
        command: list[str],
        log: Path,
        env: dict | None = None,
        cwd: Path | None = None,
        cgroup: Path | None = None,
        cpu: int | None = None,
    ) -> subprocess.Popen:
        """Start ``command`` in ``host``'s namespace (its own session, output to ``log``), in ``cgroup`` (joined
        before the exec, so every child is in it) or pinned to ``cpu`` (taskset) when there is no cgroup."""
        full = in_namespace(host.namespace, command)
        if cgroup is None and cpu is not None and shutil.which("taskset"):
            full = ["taskset", "-c", str(cpu), *full]

        def join_cgroup() -> None:
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        popen = subprocess.Popen(
            full,
            cwd=cwd,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=join_cgroup if cgroup is not None else None,
        )
        self.processes.append(popen)
        return popen

    def stop(self, popen: subprocess.Popen, timeout: float = 10) -> None:
        """SIGTERM to ``popen``'s process group, SIGKILL to it after ``timeout`` seconds."""
        if popen.poll() is None:
            _killpg(popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout)
        _killpg(popen.pid, signal.SIGKILL)  # what the group's leader left behind
        if popen.poll() is None:
            popen.wait(5)

    def close(self) -> None:
        """Stop every process started, kill anything left in the namespaces, remove the namespaces, the bridge,
        the cgroups and the directory. Safe to call twice and after a partial build."""
        if self.closed:
            return
        self.closed = True
        for popen in reversed(self.processes):
            try:
                self.stop(popen, timeout=5)
            except Exception as exc:  # keep cleaning up
                print(f"cleanup: stopping pid {popen.pid}: {exc}")
        if self.built:
            for host in self.topology.hosts:
                for pid in run(["ip", "netns", "pids", host.namespace], check=False).stdout.split():
                    _kill(int(pid), signal.SIGKILL)
            time.sleep(0.2)
            for command in teardown_commands(self.topology):
                run(command, check=False)
        for group in self.cgroups:
            for _ in range(20):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(self.directory, ignore_errors=True)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
