"""Memory readings from fake cgroup v1/v2 trees built in tmp_path, and the sampler thread."""

import time

import pytest

from lebrq import memory

GiB = 1024**3
HOST_TOTAL = 24 * GiB


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc_cgroup(tmp_path):
    path = tmp_path / "proc-self-cgroup"
    write(path, "0::/\n")
    return path


def test_cgroup_v2_limit_and_usage_minus_inactive_file(tmp_path, proc_cgroup):
    root = tmp_path / "cg"
    write(root / "memory.max", f"{2 * GiB}\n")
    write(root / "memory.current", f"{GiB}\n")
    write(root / "memory.stat", f"anon 100\ninactive_file {256 * 1024 * 1024}\nactive_file 5\n")
    assert memory.cgroup_usage(root, proc_cgroup, HOST_TOTAL) == (2 * GiB, GiB - 256 * 1024 * 1024, "cgroup-v2")


def test_cgroup_v2_in_own_nested_group(tmp_path):
    root = tmp_path / "cg"
    own = tmp_path / "self"
    write(own, "0::/system.slice/lebrq.service\n")
    write(root / "memory.max", "max\n")
    write(root / "system.slice/lebrq.service/memory.max", f"{GiB}\n")
    write(root / "system.slice/lebrq.service/memory.current", f"{GiB // 2}\n")
    assert memory.cgroup_usage(root, own, HOST_TOTAL) == (GiB, GiB // 2, "cgroup-v2")


def test_cgroup_v2_without_limit_is_none(tmp_path, proc_cgroup):
    root = tmp_path / "cg"
    write(root / "memory.max", "max\n")
    write(root / "memory.current", "1000\n")
    assert memory.cgroup_usage(root, proc_cgroup, HOST_TOTAL) is None


def test_cgroup_v1_fallback(tmp_path):
    root = tmp_path / "cg"
    own = tmp_path / "self"
    write(own, "4:memory:/docker/abc\n0::/\n")
    base = root / "memory/docker/abc"
    write(base / "memory.limit_in_bytes", f"{4 * GiB}\n")
    write(base / "memory.usage_in_bytes", f"{3 * GiB}\n")
    write(base / "memory.stat", f"cache 1\ntotal_inactive_file {GiB}\n")
    assert memory.cgroup_usage(root, own, HOST_TOTAL) == (4 * GiB, 2 * GiB, "cgroup-v1")


def test_cgroup_v1_unlimited_counts_as_no_limit(tmp_path, proc_cgroup):
    root = tmp_path / "cg"
    write(root / "memory/memory.limit_in_bytes", "9223372036854771712\n")
    write(root / "memory/memory.usage_in_bytes", f"{GiB}\n")
    assert memory.cgroup_usage(root, proc_cgroup, HOST_TOTAL) is None


def test_read_memory_falls_back_to_host(tmp_path, proc_cgroup):
    reading = memory.read_memory(cgroup_root=tmp_path / "none", proc_cgroup=proc_cgroup)
    assert reading.source == "host"
    assert 0 < reading.used_percent < 100
    assert reading.process_rss_bytes > 0


def test_rss_cap_raises_the_percentage():
    reading = memory.MemoryReading(
        total_bytes=100, used_bytes=10, source="host", process_rss_bytes=300, rss_cap_bytes=400
    )
    assert reading.system_percent == 10.0
    assert reading.used_percent == 75.0
    assert reading.available_bytes == 90


def test_sampler_refreshes_latest_on_its_thread():
    readings = iter(range(1000))

    def fake_read():
        return memory.MemoryReading(100, next(readings), "host", 1)

    sampler = memory.MemorySampler(interval=0.01, read=fake_read)
    assert sampler.latest.used_bytes == 0
    sampler.start()
    sampler.start()
    deadline = time.monotonic() + 5
    while sampler.latest.used_bytes < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert sampler.latest.used_bytes >= 3


def test_freeze_heap_moves_live_objects_out_of_the_collectors_reach():
    import gc

    survivor = [["kept"]]
    before = gc.get_freeze_count()
    try:
        frozen = memory.freeze_heap()
        assert frozen == gc.get_freeze_count() - before > 0
        assert not any(o is survivor for o in gc.get_objects())  # the permanent generation is not listed
    finally:
        gc.unfreeze()
    assert any(o is survivor for o in gc.get_objects())


def _has_mallinfo2() -> bool:
    import ctypes

    return hasattr(ctypes.CDLL(None), "mallinfo2")


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2)")
@pytest.mark.parametrize(("threshold", "mapped"), [(None, 0), (128 * 1024, 1)])
def test_a_fixed_mmap_threshold_maps_blocks_after_a_larger_one_was_freed(threshold, mapped):
    """After a 5 MiB block is freed, glibc by default raises its threshold past 1 MiB, so a 1 MiB block comes
    from the heap (no new mapping); with `set_mmap_threshold` it is still mapped on its own (mallinfo2's
    ``hblks``: blocks mapped with mmap). In a child process: the test runner's malloc is left as it is."""
    import subprocess
    import sys

    FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"  # struct mallinfo2
    script = f"""
import ctypes
from lebrq.memory import set_mmap_threshold
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "{FIELDS}".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
set = {threshold} is None or set_mmap_threshold({threshold})
freed = bytearray(5 * 1024 * 1024)
del freed
before = libc.mallinfo2().hblks
kept = bytearray(1024 * 1024)
print(set, libc.mallinfo2().hblks - before)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", str(mapped)]
