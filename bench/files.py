"""Uploads and downloads at any size: a uvicorn worker's peak RSS growth and throughput, ours side by side with
the naive Django way and a minimal Starlette peer, in the same run.

    .venv/bin/python bench/files.py                    # 100 MiB and 1 GiB: a few minutes, ~7 GiB of temp disk
    .venv/bin/python bench/files.py --quick            # 32 MiB only: about a minute
    .venv/bin/python bench/files.py --sizes 256M,2G --servers ours,starlette --out /tmp/bench --check
    .venv/bin/python bench/files.py --servers ours,naive,starlette,offloaded   # + nginx with X-Accel-Redirect

Servers, each a single real uvicorn worker process (same uvicorn, loop and HTTP parser), started and measured one
at a time on 127.0.0.1:
- ``ours``: the project (`lebrq.asgi:application`) on its own SQLite database, uploading to
  ``POST /api/uploads/video`` with a bearer token and downloading from ``/static/<path>``;
- ``naive``: `bench/naive_app.py`, Django's `FileResponse` under ASGI and FILE_UPLOAD_MAX_MEMORY_SIZE = 0;
- ``starlette``: `bench/starlette_app.py`, Starlette's `FileResponse` and `UploadFile`;
- ``offloaded`` (only when asked for in ``--servers``; needs nginx): ours with ``DOWNLOAD_OFFLOAD=x-accel``
  behind nginx on loopback, configured by the repo's deploy/nginx/lebrq.conf (`bench/nginx_front.py`). That
  config serves HTTPS only, so curl talks TLS to nginx (a self-signed certificate) and nginx plain HTTP to the
  worker: uploads stream through unbuffered, downloads are answered by the worker with X-Accel-Redirect and the
  bytes come from nginx. "RSS +" is still the uvicorn worker's; the nginx worker's peak RSS growth is added as
  ``[nginx +N MiB]``. The run fails if nginx did not serve the downloads itself.

Files of each size (valid MP4s: the sample venue-tour.mp4 with its ``mdat`` grown by random bytes, since uploads
are verified) are generated in a temp dir (``--workdir``), and a 50-megapixel JPEG for ours. The
client is curl, the same for all. Each server first uploads a 4 MiB file (imports, DB connection); then per
size, each scenario runs ``--rounds`` times (default 3), downloads after one unmeasured warm-up run on the same
file (worker threads, allocator arenas, buffers: a long-running worker has them). Scenarios:
- ``upload``: one multipart upload of the file (curl ``-F``);
- ``download``: one full GET;
- ``range-tail``: ``--range-requests`` sequential GETs of ``Range: bytes=-1048576`` (the last MiB) on one
  connection; a server that ignores Range (200) is asked once only;
- ``parallel-16``: 16 concurrent curl processes, each reading its sixteenth of the file by Range. Skipped for
  ``naive`` when 16 whole copies of the file (it ignores Range) would pass 2 GiB of memory.

For each run, the worker's RSS is sampled every 5 ms by psutil: "RSS +" is the peak minus the value just
before the run, in MiB, the largest of the rounds; MiB/s is body bytes moved over wall time, the median of the
rounds (for range-tail, ms per request instead).
Prints one table per size, writes ``<out>/files.csv`` (every measurement) and ``<out>/files-rss.png`` (RSS over
time for each scenario, one curve per server). With ``--check`` the exit status is 1 when ours misses a target:
RSS growth ≤ 4 MiB for an upload, ≤ 2 MiB for any download, full-download MiB/s at least Starlette's (within 5 %
for run-to-run noise).
"""

import argparse
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/<script>.py`: the project's packages, for the shared harness
    sys.path.insert(0, str(ROOT))

from tests.live.harness import PeriodicSampler, free_port, start_and_wait, uvicorn_command  # noqa: E402

BENCH = ROOT / "bench"
MiB = 1024 * 1024
GiB = 1024 * MiB

SERVER_LABELS = {
    "ours": "LeBRQ (ours)",
    "naive": "naive Django",
    "starlette": "Starlette",
    "offloaded": "ours + nginx X-Accel (TLS)",
    "s3": "ours, media on S3 (moto_server)",
}
DEFAULT_SERVERS = "ours,naive,starlette"
OURS = ("ours", "offloaded", "s3")  # the project itself, however its files are kept and sent
#: Worker RSS growth of an upload with the media on S3 (parts read from the temp file as they are sent).
TARGET_S3_UPLOAD_RSS = 8 * MiB
SCENARIOS = ("upload", "download", "range-tail", "parallel-16")
SCENARIO_LABELS = {
    "upload": "upload",
    "download": "full download",
    "range-tail": "1 MiB range from the end",
    "parallel-16": "16 parallel range readers",
}
PARALLEL_READERS = 16
NAIVE_PARALLEL_LIMIT = 2 * GiB  # bytes of memory 16 naive whole-file responses may take
SHARED_MEDIA = Path(os.environ.get("LEBRQ_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
PHOTO_PIXELS = 50_000_000  # the default IMAGE_MAX_PIXELS
TARGET_UPLOAD_RSS = 4 * MiB
TARGET_PHOTO_UPLOAD_RSS = 32 * MiB  # a 50-megapixel photo decoded completely (uploads/verify.py)
TARGET_DOWNLOAD_RSS = 2 * MiB
THROUGHPUT_TOLERANCE = 0.05


def parse_size(text: str) -> int:
    """'100M' → 104857600 bytes; suffixes K, M, G are KiB, MiB, GiB; no suffix is bytes."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1024, "M": MiB, "G": GiB}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def size_label(size: int) -> str:
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size / MiB:g} MiB"


def generate(path: Path, size: int) -> Path:
    """A `size`-byte valid MP4 (uploads are verified): the sample venue-tour.mp4 (``moov`` first, ``mdat`` last)
    with its ``mdat`` box grown to the size by 1 MiB blocks of random bytes after the real media data (the
    sample tables still point into the real part; the container structure tiles the file exactly)."""
    sample = (SHARED_MEDIA / "venue-tour.mp4").read_bytes()
    position = 0
    while position < len(sample):  # the top-level boxes; the last must be mdat with a 32-bit size
        box_size, box_type = struct.unpack(">I4s", sample[position : position + 8])
        if position + box_size == len(sample):
            break
        position += box_size
    if box_type != b"mdat" or size < len(sample) + 8:
        raise ValueError(f"venue-tour.mp4 must end with its mdat box, and {size} bytes exceed it")
    head, media = sample[:position], sample[position + 8 :]
    mdat_size = size - len(head)
    header = struct.pack(">I4s", mdat_size, b"mdat") if mdat_size < 1 << 32 else b""
    if not header:  # 64-bit largesize (ISO/IEC 14496-12 §4.2)
        header = struct.pack(">I4sQ", 1, b"mdat", mdat_size)
    block = os.urandom(MiB)
    with path.open("wb") as target:
        target.write(head + header + media)
        remaining = size - len(head) - len(header) - len(media)
        while remaining > 0:
            remaining -= target.write(block[: min(MiB, remaining)])
    return path


def generate_photo(path: Path, pixels: int = PHOTO_PIXELS) -> Path:
    """A JPEG of about `pixels` pixels (3:2, quality 85): a smooth gradient with a little noise, so it stays
    under the 15 MiB image limit like a real photo, encoded by libvips."""
    import pyvips

    height = int((pixels * 2 / 3) ** 0.5)
    width = pixels // height
    gradient = pyvips.Image.xyz(width, height).cast("float")
    noise = pyvips.Image.gaussnoise(width, height, sigma=6)
    red = (gradient[0] * (255 / width)) + noise
    green = (gradient[1] * (255 / height)) + noise
    blue = ((gradient[0] + gradient[1]) * (255 / (width + height))) + noise
    red.bandjoin([green, blue]).cast("uchar").jpegsave(str(path), Q=85)
    return path


@dataclass
class Server:
    """A uvicorn worker serving one of the three apps from its own directory."""

    kind: str
    directory: Path
    env: dict = field(default_factory=dict)
    url: str = ""
    popen: subprocess.Popen | None = None
    token: str | None = None
    max_body_bytes: int = GiB
    front: object | None = None  # offloaded: nginx in front of the worker (bench/nginx_front.NginxFront)
    curl_options: list = field(default_factory=list)  # offloaded: trust nginx's self-signed certificate
    s3: object | None = None  # s3: its moto_server (tests.storage_server.S3Server)

    def start(self) -> "Server":
        media, temp = self.directory / "media", self.directory / "tmp"
        media.mkdir(parents=True)
        temp.mkdir()
        self.env = {**os.environ, "MEDIA_ROOT": str(media), "FILE_UPLOAD_TEMP_DIR": str(temp), "PYTHONUNBUFFERED": "1"}
        if self.kind in OURS:
            self.env |= {
                "DATABASE_URL": f"sqlite:///{self.directory / 'bench.sqlite3'}",
                "STATIC_ROOT": str(self.directory / "static"),
                "INVOICE_CACHE_DIR": str(self.directory / "invoices"),
            }
            if self.kind == "offloaded":
                self.env["DOWNLOAD_OFFLOAD"] = "x-accel"
            if self.kind == "s3":  # media and invoices in a bucket of a moto_server of its own
                from tests.storage_server import S3Server

                self.s3 = S3Server(self.directory / "moto.log").start()
                self.env |= self.s3.server_env(self.s3.new_bucket())
            for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
                manage = [sys.executable, "manage.py", *command]
                subprocess.run(manage, cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL)
            app, app_dir = "lebrq.asgi:application", ROOT
        else:
            app, app_dir = {"naive": "naive_app:application", "starlette": "starlette_app:app"}[self.kind], BENCH
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = uvicorn_command(app, port, app_dir=app_dir)
        self.popen = start_and_wait(command, env=self.env, log=self.directory / "server.log", url=self.url)
        verify = True
        if self.kind == "offloaded":
            from nginx_front import NginxFront

            upstream = self.url.removeprefix("http://")
            self.front = NginxFront(self.directory / "nginx", upstream, self.env, self.max_body_bytes).start()
            self.url, verify = self.front.url, self.front.verify
            self.curl_options = ["--cacert", str(self.front.ca_file)]
        if self.kind in OURS:
            login = {"username": "customer", "password": "lebrq-customer"}
            answer = httpx.post(self.url + "/api/auth/login", json=login, verify=verify)
            self.token = answer.json()["access_token"]
        return self

    def stop(self) -> None:
        if self.front:
            self.front.stop()
        if self.s3:
            self.s3.stop()
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    @property
    def proxy_process(self) -> psutil.Process | None:
        """nginx's worker process, when there is one in front."""
        return self.front.worker if self.front else None

    def upload_args(self, path: Path, kind: str = "video") -> list[str]:
        """curl arguments that upload `path` to this server (ours: as `kind`, "video" or "image")."""
        if self.kind in OURS:
            return [*self.curl_options, "-H", f"Authorization: Bearer {self.token}",
                    "-F", f"file=@{path}", f"{self.url}/api/uploads/{kind}"]  # fmt: skip
        return ["-F", f"file=@{path};type=video/mp4", f"{self.url}/upload"]

    def file_url(self, answer: dict) -> str:
        """URL of the stored file, from the upload's JSON answer."""
        if self.kind in OURS:
            return self.url + answer["url"]
        return f"{self.url}/files/{answer['name']}"


class RSSRecorder(PeriodicSampler):
    """Samples a process's RSS every 5 ms on a thread. `samples` are (seconds since start, bytes).

    With `proxy` (nginx's worker), its RSS is sampled too: `proxy_growth` is its peak minus its starting value,
    in bytes (None without a proxy).
    """

    def __init__(self, process: psutil.Process, proxy: psutil.Process | None = None):
        self.process = process
        self.baseline = process.memory_info().rss
        self.samples: list[tuple[float, int]] = []
        self.proxy = proxy
        self.proxy_baseline = proxy.memory_info().rss if proxy else 0
        self.proxy_peak = self.proxy_baseline
        self.start = time.perf_counter()

    def sample(self):
        self.samples.append((time.perf_counter() - self.start, self.process.memory_info().rss))
        if self.proxy:
            self.proxy_peak = max(self.proxy_peak, self.proxy.memory_info().rss)

    @property
    def growth(self) -> int:
        return max(rss for _, rss in self.samples) - self.baseline

    @property
    def proxy_growth(self) -> int | None:
        return self.proxy_peak - self.proxy_baseline if self.proxy else None


@dataclass
class Result:
    server: str
    size: int
    scenario: str
    statuses: str = ""
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rss_growth: int = 0
    note: str = ""
    samples: list = field(default_factory=list, repr=False)
    runs: int = 1
    rate: float | None = None  # MiB/s when set (the median of several runs), else bytes / seconds
    proxy_rss_growth: int | None = None  # offloaded: nginx worker's peak RSS growth, bytes

    @property
    def mib_per_s(self) -> float:
        if self.rate is not None:
            return self.rate
        return self.bytes / MiB / self.seconds if self.seconds else 0.0


WRITE_OUT = "%{http_code} %{size_download} %{size_upload} %{time_total}\\n"


def curl(args: list[str], body_to: str = "/dev/null") -> tuple[list[tuple[int, int, int]], str]:
    """Run curl; returns ([(status, bytes down, bytes up) per transfer], body of the last transfer if saved)."""
    command = ["curl", "-sS", "--http1.1", "-w", WRITE_OUT, "-o", body_to, *args]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    transfers = [tuple(int(float(v)) for v in line.split()[:3]) for line in output.splitlines() if line.strip()]
    return transfers, Path(body_to).read_text() if body_to != "/dev/null" else ""


def run_upload(server: Server, path: Path, workdir: Path, scenario: str = "upload") -> tuple[Result, str]:
    answer_file = workdir / f"answer-{server.kind}.json"
    result = Result(server.kind, path.stat().st_size, scenario)
    kind = "image" if scenario == "photo-upload" else "video"
    with RSSRecorder(server.process, server.proxy_process) as rss:
        started = time.perf_counter()
        transfers, answer = curl(server.upload_args(path, kind), body_to=str(answer_file))
        result.seconds = time.perf_counter() - started
    status, _, sent = transfers[0]
    if status != 201:
        raise RuntimeError(f"{server.kind} upload answered {status}: {answer[:300]}")
    result.statuses, result.requests, result.bytes = "201", 1, sent
    result.rss_growth, result.samples, result.proxy_rss_growth = rss.growth, rss.samples, rss.proxy_growth
    return result, server.file_url(json.loads(answer))


def run_download(server: Server, url: str, size: int) -> Result:
    result = Result(server.kind, size, "download")
    with RSSRecorder(server.process, server.proxy_process) as rss:
        started = time.perf_counter()
        transfers, _ = curl([*server.curl_options, url])
        result.seconds = time.perf_counter() - started
    result.statuses, result.requests, result.bytes = str(transfers[0][0]), 1, transfers[0][1]
    result.rss_growth, result.samples, result.proxy_rss_growth = rss.growth, rss.samples, rss.proxy_growth
    return result


def run_range_tail(server: Server, url: str, size: int, repeats: int) -> Result:
    result = Result(server.kind, size, "range-tail")
    transfers: list = []
    with RSSRecorder(server.process, server.proxy_process) as rss:
        started = time.perf_counter()
        transfers, _ = curl([*server.curl_options, "-H", f"Range: bytes=-{MiB}", url])
        if transfers[0][0] == 206 and repeats > 1:
            more = [*server.curl_options, "-H", f"Range: bytes=-{MiB}"]
            for _ in range(repeats - 1):
                more += ["-o", "/dev/null", url]
            transfers += curl(more)[0]
        result.seconds = time.perf_counter() - started
    result.statuses = "/".join(sorted({str(status) for status, _, _ in transfers}))
    if result.statuses == "200":
        result.note = "Range ignored: whole file"
    result.requests, result.bytes = len(transfers), sum(down for _, down, _ in transfers)
    result.rss_growth, result.samples, result.proxy_rss_growth = rss.growth, rss.samples, rss.proxy_growth
    return result


def run_parallel(server: Server, url: str, size: int) -> Result:
    result = Result(server.kind, size, "parallel-16")
    if server.kind == "naive" and size * PARALLEL_READERS > NAIVE_PARALLEL_LIMIT:
        result.note = f"skipped: 16 whole copies (Range ignored) = {size * PARALLEL_READERS / GiB:g} GiB of memory"
        return result
    step = -(-size // PARALLEL_READERS)
    ranges = [(first, min(first + step, size) - 1) for first in range(0, size, step)]
    command = ["curl", "-sS", "--http1.1", *server.curl_options, "-w", WRITE_OUT, "-o", "/dev/null"]
    with RSSRecorder(server.process, server.proxy_process) as rss:
        started = time.perf_counter()
        readers = [
            subprocess.Popen([*command, "-r", f"{a}-{b}", url], stdout=subprocess.PIPE, text=True) for a, b in ranges
        ]
        outputs = [reader.communicate()[0] for reader in readers]
        result.seconds = time.perf_counter() - started
    transfers = [tuple(int(float(v)) for v in out.split()[:2]) for out in outputs]
    result.statuses = "/".join(sorted({str(status) for status, _ in transfers}))
    result.requests, result.bytes = len(transfers), sum(down for _, down in transfers)
    result.rss_growth, result.samples, result.proxy_rss_growth = rss.growth, rss.samples, rss.proxy_growth
    return result


def combine(runs: list[Result]) -> Result:
    """One result for several runs of a scenario: the median throughput, the largest RSS growth (and that run's
    samples, for the plot), all statuses and the totals."""
    worst = max(runs, key=lambda r: r.rss_growth)
    rates = sorted(r.mib_per_s for r in runs)
    combined = Result(
        worst.server,
        worst.size,
        worst.scenario,
        statuses="/".join(sorted({s for r in runs for s in r.statuses.split("/") if s})),
        requests=sum(r.requests for r in runs),
        bytes=sum(r.bytes for r in runs),
        seconds=sum(r.seconds for r in runs),
        rss_growth=worst.rss_growth,
        note=worst.note,
        samples=worst.samples,
        runs=len(runs),
        proxy_rss_growth=max((r.proxy_rss_growth for r in runs if r.proxy_rss_growth is not None), default=None),
    )
    combined.rate = rates[len(rates) // 2] if rates else 0.0
    return combined


def bench_server(
    kind: str, files: dict[int, Path], warmup: Path, workdir: Path, repeats: int, rounds: int, photo: Path | None
):
    """Start the `kind` server, warm it up, measure every scenario `rounds` times per file size, stop it.
    Ours also uploads `photo` (a 50-megapixel JPEG, decoded completely by the upload's checks): one unmeasured
    warm-up (libvips' first decode), then `rounds` measured ("photo-upload", reported by `check_targets`).

    For ``offloaded``, RuntimeError when nginx did not serve every download itself (X-Accel-Redirect)."""
    server = Server(kind, workdir / kind, max_body_bytes=max(files) + 16 * MiB)
    server.start()
    results = []
    try:
        scenarios = (
            lambda url, size: run_download(server, url, size),
            lambda url, size: run_range_tail(server, url, size, repeats),
            lambda url, size: run_parallel(server, url, size),
        )
        _, url = run_upload(server, warmup, workdir)  # warm-up: imports, the DB connection
        if photo is not None and kind in OURS:
            cold, _ = run_upload(server, photo, workdir, "photo-upload")
            photos = combine([run_upload(server, photo, workdir, "photo-upload")[0] for _ in range(rounds)])
            results.append(photos)
            print(f"  {photos.size / MiB:.1f} MiB 50 MP photo upload {cell(photos)} (first: {cell(cold)})", flush=True)
        for size, path in files.items():
            uploads = [run_upload(server, path, workdir) for _ in range(rounds)]
            results.append(combine([result for result, _ in uploads]))
            url = uploads[-1][1]
            for scenario in scenarios:
                scenario(url, size)  # warm-up on this file: worker threads, allocator arenas, buffers
                results.append(combine([scenario(url, size) for _ in range(rounds)]))
            for result in results[-4:]:
                print(f"  {size_label(size):>8} {SCENARIO_LABELS[result.scenario]:<26} {cell(result)}", flush=True)
        if server.front:
            # Every GET of the scenarios (warm-ups included) must have been served by nginx from the file.
            downloads = sum(r.requests for r in results if r.scenario != "upload")
            downloads += len(files) * (1 + repeats + PARALLEL_READERS)
            if (offloaded := server.front.offloaded_responses()) != downloads:
                raise RuntimeError(f"nginx served {offloaded} of {downloads} downloads itself (X-Accel-Redirect)")
            print(f"  nginx served all {downloads} downloads from the file (X-Accel-Redirect)", flush=True)
    finally:
        server.stop()
    return results


def cell(result: Result) -> str:
    if result.note.startswith("skipped"):
        return "skipped"
    rate = f"{result.mib_per_s:,.0f} MiB/s"
    if result.scenario == "range-tail":
        rate = f"{result.seconds / result.requests * 1000:.1f} ms/req" if result.requests else "-"
    text = f"+{result.rss_growth / MiB:.1f} MiB, {rate}"
    if result.statuses not in ("201", "200", "206"):
        text += f" ({result.statuses})"
    if result.proxy_rss_growth is not None:
        text += f" [nginx +{result.proxy_rss_growth / MiB:.1f} MiB]"
    if result.note:
        text += f" [{result.note}]"
    return text


def print_tables(results: list[Result], sizes: list[int], kinds: list[str]) -> None:
    by_key = {(r.server, r.size, r.scenario): r for r in results}
    headers = ["scenario", *(SERVER_LABELS[k] for k in kinds)]
    for size in sizes:
        rows = [[SCENARIO_LABELS[s], *(cell(by_key[(k, size, s)]) for k in kinds)] for s in SCENARIOS]
        widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
        print(f"\n{size_label(size)} file — worker peak RSS growth, throughput")
        for row in [headers, ["-" * w for w in widths], *rows]:
            print("| " + " | ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)) + " |")


def check_targets(results: list[Result], sizes: list[int], kinds: list[str]) -> list[str]:
    """One line per target; a line starting "MISS" is a missed one."""
    by_key = {(r.server, r.size, r.scenario): r for r in results}
    lines = []
    for result in results:
        if result.server == "ours" and result.scenario == "photo-upload":
            verdict = "ok  " if result.rss_growth <= TARGET_PHOTO_UPLOAD_RSS else "MISS"
            lines.append(f"{verdict} 50-megapixel photo upload RSS +{result.rss_growth / MiB:.2f} MiB (≤ 32 MiB)")
    for size in sizes if "s3" in kinds else ():
        upload = by_key[("s3", size, "upload")]
        verdict = "ok  " if upload.rss_growth <= TARGET_S3_UPLOAD_RSS else "MISS"
        lines.append(f"{verdict} {size_label(size)} upload to S3 RSS +{upload.rss_growth / MiB:.2f} MiB (≤ 8 MiB)")
        for scenario in SCENARIOS[1:]:
            result = by_key[("s3", size, scenario)]
            verdict = "ok  " if result.rss_growth <= TARGET_S3_UPLOAD_RSS else "MISS"
            growth = f"RSS +{result.rss_growth / MiB:.2f} MiB (≤ 8 MiB)"
            lines.append(f"{verdict} {size_label(size)} {SCENARIO_LABELS[scenario]} from S3 {growth}")
    for size in sizes if "ours" in kinds else ():
        upload = by_key[("ours", size, "upload")]
        verdict = "ok  " if upload.rss_growth <= TARGET_UPLOAD_RSS else "MISS"
        lines.append(f"{verdict} {size_label(size)} upload RSS +{upload.rss_growth / MiB:.2f} MiB (≤ 4 MiB)")
        for scenario in SCENARIOS[1:]:
            result = by_key[("ours", size, scenario)]
            verdict = "ok  " if result.rss_growth <= TARGET_DOWNLOAD_RSS else "MISS"
            growth = f"RSS +{result.rss_growth / MiB:.2f} MiB (≤ 2 MiB)"
            lines.append(f"{verdict} {size_label(size)} {SCENARIO_LABELS[scenario]} {growth}")
        if "starlette" in kinds:
            ours, peer = by_key[("ours", size, "download")], by_key[("starlette", size, "download")]
            verdict = "ok  " if ours.mib_per_s >= peer.mib_per_s * (1 - THROUGHPUT_TOLERANCE) else "MISS"
            lines.append(
                f"{verdict} {size_label(size)} full download {ours.mib_per_s:,.0f} MiB/s vs Starlette "
                f"{peer.mib_per_s:,.0f} MiB/s (≥, within 5 %)"
            )
    return lines


def write_csv(results: list[Result], path: Path) -> None:
    with path.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["server", "size_bytes", "scenario", "statuses", "requests", "bytes", "seconds",
                         "median_mib_per_s", "max_rss_growth_bytes", "note", "runs",
                         "max_proxy_rss_growth_bytes"])  # fmt: skip
        for r in results:
            proxy = "" if r.proxy_rss_growth is None else r.proxy_rss_growth
            writer.writerow([r.server, r.size, r.scenario, r.statuses, r.requests, r.bytes, f"{r.seconds:.4f}",
                             f"{r.mib_per_s:.1f}", r.rss_growth, r.note, r.runs, proxy])  # fmt: skip


def plot(results: list[Result], sizes: list[int], kinds: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {(r.server, r.size, r.scenario): r for r in results}
    colours = {
        "ours": "tab:green",
        "naive": "tab:red",
        "starlette": "tab:blue",
        "offloaded": "tab:purple",
        "s3": "tab:orange",
    }
    figure, axes = plt.subplots(len(sizes), len(SCENARIOS), figsize=(4.2 * len(SCENARIOS), 3.4 * len(sizes)))
    axes = [[*row] for row in (axes if len(sizes) > 1 else [axes])]
    for i, size in enumerate(sizes):
        for j, scenario in enumerate(SCENARIOS):
            ax = axes[i][j]
            for kind in kinds:
                result = by_key[(kind, size, scenario)]
                if not result.samples:
                    continue
                baseline = result.samples[0][1]
                ax.plot(
                    [t for t, _ in result.samples],
                    [(rss - baseline) / MiB for _, rss in result.samples],
                    label=SERVER_LABELS[kind],
                    color=colours[kind],
                )
            ax.set_yscale("symlog", linthresh=1)
            # A drop below the starting RSS (memory an earlier run freed) is of no interest; show at least 0-4 MiB.
            ax.set_ylim(bottom=-1, top=max(4, ax.get_ylim()[1]))
            ax.set_title(f"{size_label(size)}: {SCENARIO_LABELS[scenario]}", fontsize=10)
            ax.set_xlabel("seconds")
            ax.set_ylabel("worker RSS growth (MiB)")
            ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100M,1G", help="comma-separated file sizes, e.g. 100M,1G (KiB/MiB/GiB)")
    parser.add_argument("--quick", action="store_true", help="32 MiB only and 10 range requests")
    parser.add_argument(
        "--servers", default=DEFAULT_SERVERS, help=f"any of {','.join(SERVER_LABELS)} (default {DEFAULT_SERVERS})"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="where files.csv and files-rss.png go")
    parser.add_argument("--workdir", type=Path, default=None, help="temp dir for files (default: a new one)")
    parser.add_argument("--range-requests", type=int, default=50, help="requests in the range-tail scenario")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each scenario (median MiB/s)")
    parser.add_argument("--check", action="store_true", help="exit 1 when ours misses a target")
    parser.add_argument("--no-photo", action="store_true", help="skip the 50-megapixel photo upload (ours)")
    args = parser.parse_args(argv)

    sizes = [32 * MiB] if args.quick else [parse_size(s) for s in args.sizes.split(",")]
    repeats = 10 if args.quick else args.range_requests
    rounds = 2 if args.quick else args.rounds
    kinds = [k.strip() for k in args.servers.split(",")]
    if unknown := set(kinds) - set(SERVER_LABELS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if not shutil.which("curl"):
        parser.error("curl is needed (apt-get install curl)")
    if "offloaded" in kinds:
        from nginx_front import nginx_binary

        if nginx_binary() is None:
            parser.error("offloaded needs nginx (apt-get install nginx-light)")
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lebrq-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench/files.py: sizes {', '.join(map(size_label, sizes))}; servers {', '.join(kinds)}; "
          f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}; workdir {workdir}", flush=True)  # fmt: skip
    try:
        files = {size: generate(workdir / f"file-{size}.mp4", size) for size in sizes}
        warmup = generate(workdir / "warmup.mp4", 4 * MiB)
        photo = None if args.no_photo else generate_photo(workdir / "photo-50mp.jpg")
        results = []
        for kind in kinds:
            print(f"{SERVER_LABELS[kind]}:", flush=True)
            results += bench_server(kind, files, warmup, workdir, repeats, rounds, photo)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_tables(results, sizes, kinds)
    write_csv(results, args.out / "files.csv")
    plot(results, sizes, kinds, args.out / "files-rss.png")
    print(f"\nwrote {args.out / 'files.csv'} and {args.out / 'files-rss.png'}")
    missed = False
    if {"ours", "s3"} & set(kinds):
        print("\ntargets (ours):")
        for line in check_targets(results, sizes, kinds):
            print("  " + line)
            missed |= line.startswith("MISS")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
