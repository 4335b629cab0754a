"""Memory usage as the kernel will judge it: the container's cgroup limit when there is one, else the host.

`read_memory` takes one reading; `MemorySampler` refreshes a cached reading on a background thread so that
the request path never touches /proc or /sys (see `lebrq.http.guards`).

Sources, in order (the first with a real limit wins):
- cgroup v2: ``memory.max`` / ``memory.current`` minus ``inactive_file`` from ``memory.stat`` (page cache the
  kernel can drop before an OOM kill), in the process's own cgroup from ``/proc/self/cgroup``.
- cgroup v1: ``memory.limit_in_bytes`` / ``memory.usage_in_bytes`` minus ``total_inactive_file``.
- the host: `psutil.virtual_memory()` (``total - available``).
A limit at or above the host's RAM counts as "no limit". ``MEMORY_MAX_RSS_MB`` adds a per-process cap: the
reported percentage is the larger of the system figure and RSS / cap.
"""

import ctypes
import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

logger = logging.getLogger("lebrq.memory")

MiB = 1024 * 1024


@dataclass(frozen=True)
class MemoryReading:
    """One sample. Sizes in bytes; ``source`` is ``"cgroup-v2"``, ``"cgroup-v1"`` or ``"host"``."""

    total_bytes: int
    used_bytes: int
    source: str
    process_rss_bytes: int
    rss_cap_bytes: int | None = None

    @property
    def available_bytes(self) -> int:
        return max(self.total_bytes - self.used_bytes, 0)

    @property
    def system_percent(self) -> float:
        return 100.0 * self.used_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def used_percent(self) -> float:
        """The figure the guard acts on: system usage, or RSS against the per-process cap if that is higher."""
        if self.rss_cap_bytes:
            return max(self.system_percent, 100.0 * self.process_rss_bytes / self.rss_cap_bytes)
        return self.system_percent


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, key: str) -> int:
    try:
        with path.open() as lines:
            for line in lines:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _own_cgroup_paths(proc_cgroup: Path) -> dict[str, str]:
    """Map of controller (``""`` for v2, else e.g. ``"memory"``) → the process's cgroup path."""
    paths = {}
    try:
        for line in proc_cgroup.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    except (OSError, ValueError):
        pass
    return paths


def _candidates(base: Path, own: str | None) -> list[Path]:
    dirs = []
    if own and own != "/":
        dirs.append(base / own.lstrip("/"))
    dirs.append(base)
    return dirs


def cgroup_usage(root: Path, proc_cgroup: Path, host_total: int) -> tuple[int, int, str] | None:
    """``(limit, used, source)`` in bytes from the cgroup tree under ``root``, or None without a real limit."""
    own = _own_cgroup_paths(proc_cgroup)
    for directory in _candidates(root, own.get("")):
        limit = _read_int(directory / "memory.max")
        current = _read_int(directory / "memory.current")
        if limit and current is not None and limit < host_total:
            used = current - _stat_value(directory / "memory.stat", "inactive_file")
            return limit, max(used, 0), "cgroup-v2"
    for directory in _candidates(root / "memory", own.get("memory")):
        limit = _read_int(directory / "memory.limit_in_bytes")
        usage = _read_int(directory / "memory.usage_in_bytes")
        if limit and usage is not None and limit < host_total:
            used = usage - _stat_value(directory / "memory.stat", "total_inactive_file")
            return limit, max(used, 0), "cgroup-v1"
    return None


def read_memory(
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    rss_cap_bytes: int | None = None,
) -> MemoryReading:
    """Take one `MemoryReading` (see the module docstring for the sources). Never raises for missing files."""
    host = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    cgroup = cgroup_usage(cgroup_root, proc_cgroup, host.total)
    if cgroup:
        total, used, source = cgroup
    else:
        total, used, source = host.total, host.total - host.available, "host"
    return MemoryReading(total, used, source, rss, rss_cap_bytes or None)


def freeze_heap() -> int:
    """Collect, then move every object still alive into the collector's permanent generation (`gc.freeze`);
    returns how many objects this call froze.

    Why: a full (generation 2) collection traverses every tracked object, about 150,000 once the app is
    imported (modules, classes, URLconf, serializers) — measured ~90 ms with the GIL held, every few seconds
    under load, a stall for every request of the worker. Frozen objects are never traversed again, so later
    full collections only walk what came after (measured under ``bench/load.py``: 5–8 ms).

    Cost: frozen objects are still freed by reference counting, but a reference cycle among them is never
    collected. Call it at start-up and once after warm-up (`lebrq.asgi`), not periodically: each call also
    freezes the objects of the requests in flight at that moment.
    """
    before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count() - before


#: mallopt(3)'s parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
#: The largest threshold glibc accepts on 64-bit systems: half its per-thread heap size (bytes).
MMAP_THRESHOLD_MAX = 32 * MiB


def set_mmap_threshold(size: int) -> bool:
    """Have glibc's malloc serve every block of ``size`` bytes or more with its own mapping, given back to the
    kernel when freed (``mallopt(M_MMAP_THRESHOLD, size)``, mallopt(3)); returns whether malloc took it: False where
    there is no glibc (musl, macOS) or ``size`` is out of range (0 to `MMAP_THRESHOLD_MAX` bytes).

    Why: glibc starts at 128 KiB but, by default, raises the threshold to the size of each mapped block that is
    freed (up to 32 MiB). Once a 5 MB JSON answer has been freed, the next ones are carved from the request
    threads' heaps, which fragment and are not given back: measured with 8 clients asking for a 5 MB booking list
    again and again, worker RSS +30 MiB over 8 rounds (198 → 229 MiB) with the default, flat (169 → 170) with
    the threshold set. Setting it turns that adjustment off. Allocations below it (64 KiB file chunks) are
    unaffected, and so are Python's small-object arenas (mapped by Python itself). Under another allocator
    preloaded in glibc's place (jemalloc, tcmalloc) the call reaches glibc's malloc and changes nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(size)))


class MemorySampler:
    """Keeps `latest` fresh: a daemon thread takes a reading every ``interval`` seconds (≤ 0.25 s by default).

    With ``gc_interval`` > 0 the same thread also runs `gc.collect()` every ``gc_interval`` seconds and logs
    ``[GC] Collected N objects``.
    """

    def __init__(self, interval: float = 0.25, rss_cap_bytes: int | None = None, gc_interval: float = 0, read=None):
        self.interval = interval
        self.gc_interval = gc_interval
        self._read = read or (lambda: read_memory(rss_cap_bytes=rss_cap_bytes))
        self.latest: MemoryReading = self._read()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the sampling thread once (later calls do nothing)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        since_gc = 0.0
        while not self._stop.wait(self.interval):
            try:
                self.latest = self._read()
            except Exception:  # a failed reading keeps the previous one
                logger.exception("Memory sampling failed")
            since_gc += self.interval
            if self.gc_interval > 0 and since_gc >= self.gc_interval:
                since_gc = 0.0
                logger.info("[GC] Collected %d objects", gc.collect())
