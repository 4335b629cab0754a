"""One long-lived ExifTool process per worker process (``exiftool -stay_open True -@ -``).

Starting ExifTool costs Perl's start-up and the loading of its modules: 0.3 s of CPU for each upload, measured
with a fresh process per file; a command sent to a running process costs a few milliseconds of it. Commands are
written to the process's standard input, one argument a line, ended by ``-execute``; ExifTool answers on standard
output, then prints the command's exit status (``-echo3 ${status}``) and ``{ready}``; on standard error it prints
`STDERR_READY` last (``-echo4``). One command runs at a time (a lock). A process that does not answer within the
caller's timeout, or that has died, is killed and a new one started for the next command. A process idle for
`IDLE_SECONDS` is ended (it holds about 75 MB once its modules are loaded), by one watchdog thread per tool.

ExifTool never ends by itself when its standard input closes (``-stay_open`` keeps reading past the end of the
file), so a worker that dies without `StayOpenExifTool.close` — killed, restarted by gunicorn, crashed — would leave
it running for good. It is therefore started through util-linux's ``setpriv --pdeathsig KILL`` where that exists
(every Debian system): the kernel kills it when the thread that started it ends (prctl PR_SET_PDEATHSIG), which
with the worker's long-lived threads means when the worker process ends; the next command starts another.

Arguments are given one a line, so a file name must not hold a line break (ours are the upload's temporary path
or a stored path, both made by us) and must not start with ``-`` (they are absolute).
"""

import os
import selectors
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

#: What ExifTool prints on standard error after each command (``-echo4``), so the reader knows it is complete.
STDERR_READY = "{stderr-ready}"
STDOUT_READY = "{ready}"
#: Seconds without a command after which the ExifTool process is ended (the next command starts another).
IDLE_SECONDS = 60.0
#: The command ExifTool is started through: killed by the kernel when its starting thread ends (see above).
LAUNCHER = ("setpriv", "--pdeathsig", "KILL") if shutil.which("setpriv") else ()


@dataclass(frozen=True)
class Result:
    """One command's outcome: ``returncode`` (ExifTool's exit status for it), ``stdout`` and ``stderr`` (text)."""

    returncode: int
    stdout: str
    stderr: str


class ExifToolTimeout(Exception):
    """ExifTool did not answer within the timeout; its process was killed."""


class StayOpenExifTool:
    """The ExifTool process of this worker process, started on first use (``executable`` is its path)."""

    def __init__(self, executable: str):
        self.executable = executable
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._last_used = time.monotonic()
        self._watchdog: threading.Thread | None = None

    def run(self, *arguments: str, timeout: float) -> Result:
        """Run one command (``arguments``, without the file's own ``--``); raises `ExifToolTimeout` after
        ``timeout`` seconds, and `OSError` if ExifTool cannot be started."""
        if any("\n" in argument for argument in arguments):
            raise ValueError("ExifTool arguments are sent one a line: no line breaks")
        with self._lock:
            process = self._running()
            lines = [*arguments, "-echo3", "${status}", "-echo4", STDERR_READY, "-execute", ""]
            try:
                process.stdin.write("\n".join(lines).encode())
                process.stdin.flush()
                stdout, stderr = self._read_answer(process, time.monotonic() + timeout)
            except (OSError, ExifToolTimeout):
                self._kill()
                raise
            finally:
                self._last_used = time.monotonic()
        *output, status = stdout.rstrip("\n").split("\n") if stdout.strip() else ["1"]
        try:
            returncode = int(status)
        except ValueError:
            output, returncode = [*output, status], 1
        return Result(returncode, "\n".join(output) + ("\n" if output else ""), stderr)

    def close(self) -> None:
        """Ask the process to end (``-stay_open False``) and wait for it briefly, else kill it."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._process is None:
            return
        try:
            self._process.stdin.write(b"-stay_open\nFalse\n")
            self._process.stdin.flush()
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._kill()
        self._process = None

    def _watch(self) -> None:
        """The watchdog's loop: end the process once it has been idle for `IDLE_SECONDS`."""
        while True:
            time.sleep(IDLE_SECONDS / 4)
            with self._lock:
                if self._process is not None and time.monotonic() - self._last_used > IDLE_SECONDS:
                    self._close_locked()

    @property
    def pid(self) -> int | None:
        """The process id of the running ExifTool, or None."""
        return self._process.pid if self._process is not None else None

    def _running(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(  # noqa: S603 -- our executable and fixed arguments
                [
                    *LAUNCHER,
                    self.executable,
                    *("-stay_open", "True", "-@", "-", "-common_args", "-m", "-charset", "filename=utf8"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="lebrq-exiftool-watchdog", daemon=True)
                self._watchdog.start()
        return self._process

    def _read_answer(self, process: subprocess.Popen, deadline: float) -> tuple[str, str]:
        """Standard output up to ``{ready}`` and standard error up to `STDERR_READY`, read as they come (both
        pipes at once, so neither fills up); `ExifToolTimeout` past ``deadline``."""
        buffers = {process.stdout: bytearray(), process.stderr: bytearray()}
        markers = {process.stdout: STDOUT_READY.encode() + b"\n", process.stderr: STDERR_READY.encode() + b"\n"}
        with selectors.DefaultSelector() as selector:
            for stream in buffers:
                selector.register(stream, selectors.EVENT_READ)
            pending = set(buffers)
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExifToolTimeout("ExifTool did not answer in time")
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fileobj.fileno(), 65536)
                    if not chunk:
                        raise OSError("ExifTool exited")
                    buffer = buffers[key.fileobj]
                    buffer += chunk
                    if buffer.endswith(markers[key.fileobj]):
                        pending.discard(key.fileobj)
                        selector.unregister(key.fileobj)
        out, err = (bytes(buffers[s])[: -len(markers[s])].decode(errors="replace") for s in buffers)
        return out, err

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
