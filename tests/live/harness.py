"""Process helpers shared by the live tests and the benchmarks (bench/): free ports, starting a server and
waiting for its ``/health``, and sampling a process's peak RSS. No pytest here, so bench scripts can import it."""

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uvicorn_command(app: str, port: int, app_dir: Path | None = None) -> list[str]:
    """The uvicorn command line the tests and benchmarks run: one worker on 127.0.0.1:``port``."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    return [*command, "--timeout-keep-alive", "5", "--log-level", "warning"]


def start_and_wait(command: list[str], *, env: dict, log: Path, url: str, verify=True, timeout: float = 60):
    """Start ``command`` (output to ``log``) and wait until ``url + "/health"`` answers 200; returns the Popen.

    Raises `RuntimeError` with the server's log if it exits first or does not answer within ``timeout`` seconds.
    """
    popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{' '.join(command[:4])} exited: {log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1, verify=verify).status_code == 200:
                return popen
        except httpx.TransportError:
            time.sleep(0.1)
    stop_process(popen)
    raise RuntimeError(f"{' '.join(command[:4])} did not answer on {url}: {log.read_text()}")


def stop_process(popen: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM ``popen`` and wait ``timeout`` seconds for it, then SIGKILL."""
    if popen and popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class PeriodicSampler:
    """Calls `sample` at the start and then every ``interval`` seconds on a daemon thread, for as long as it is
    used as a context manager; on leaving, stops the thread and calls `finish`. Subclasses define both."""

    interval = 0.005

    def sample(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """After the thread has stopped (a last sample, closing a connection)."""

    def _run(self) -> None:
        self.sample()
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.finish()


class PeakRSS(PeriodicSampler):
    """Samples a process's RSS every ``interval`` seconds on a thread; ``growth`` is the peak minus the value at
    start, in bytes. Use as a context manager around the work measured."""

    def __init__(self, process: psutil.Process, interval: float = 0.005):
        self.process = process
        self.interval = interval
        self.baseline = self.peak = process.memory_info().rss

    def sample(self):
        self.peak = max(self.peak, self.process.memory_info().rss)

    finish = sample

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
