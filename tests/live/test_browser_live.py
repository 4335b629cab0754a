"""A real browser plays and seeks the sample videos served by a real uvicorn worker: headless Chromium (Debian's
``chromium`` package), driven by Playwright with ``executable_path`` (no downloaded browser).

``venue-tour-moov-at-end.mp4`` keeps its index (``moov``) after the media data, so Chromium can only start it by
asking for the end of the file with a Range request: it plays only if byte ranges work. The tests check the
`<video>` element's own state (duration, playback, seeking) and the 206 responses the server sent.

They do not depend on the database, so they run in the SQLite pass of `make test` only. Without Chromium they
are skipped locally with the reason, and fail under CI (``CI`` set), where `.ci/run` installs it.
"""

import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("mysql"),
        reason="the browser tests do not depend on the database: they run in the SQLite pass",
    ),
]

CHROMIUM = Path("/usr/bin/chromium")
#: Flags for this machine: no sandbox as root, no GPU, and no background connections (the network is closed).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIDEOS = {
    "venue-tour.mp4": 'video/mp4; codecs="avc1.64001F, mp4a.40.2"',
    "venue-tour-moov-at-end.mp4": 'video/mp4; codecs="avc1.64001F, mp4a.40.2"',
    "venue-tour.webm": 'video/webm; codecs="vp9, opus"',
}
DURATION = 12.0  # seconds, every sample video
#: Download speed in bytes per second: slow enough that a file is not whole in the browser before it plays, so
#: that reaching the index at the end of a file, and seeking, need Range requests as on a real network.
THROUGHPUT = 1_000_000
SEEK_TO = 10.0

# Loads `src` into a muted <video>, waits for its metadata, plays until the clock moves, then seeks to `seekTo`
# and waits for "seeked". Any media error or a 30 s stall rejects with a message naming the step.
PLAY_AND_SEEK = """
async ({src, seekTo}) => {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  document.body.appendChild(video);
  let step = "loadedmetadata";
  const failed = new Promise((_, reject) => {
    video.addEventListener("error", () =>
      reject(new Error(`media error ${video.error.code} (${video.error.message}) at ${step}`)));
    setTimeout(() => reject(new Error(`timed out at ${step}`)), 30000);
  });
  const event = (name) => Promise.race([new Promise((r) => video.addEventListener(name, r, {once: true})), failed]);
  const loaded = event("loadedmetadata");
  video.src = src;
  await loaded;
  const duration = video.duration;
  step = "playing";
  await Promise.race([video.play(), failed]);
  while (video.currentTime === 0) await event("timeupdate");
  const played = video.currentTime;
  video.pause();
  step = "seeked";
  const seeked = event("seeked");
  video.currentTime = seekTo;
  await seeked;
  return {duration, played, currentTime: video.currentTime, width: video.videoWidth, height: video.videoHeight};
}
"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def video_urls(live_server_uvicorn, shared_media) -> dict[str, str]:
    """Each sample video uploaded once; name → absolute URL of the stored file."""
    urls = {}
    with live_server_uvicorn.client() as client:
        for name in VIDEOS:
            with (shared_media / name).open("rb") as source:
                response = client.post("/api/uploads/video", files={"file": (name, source)})
            assert response.status_code == 201, response.text
            urls[name] = live_server_uvicorn.url + response.json()["url"]
    return urls


@pytest.fixture
def page(browser, live_server_uvicorn):
    """A fresh page on the server's origin, with Chromium's HTTP cache off (it would merge cached and fetched
    ranges, so its responses would not be the server's) and downloads throttled to `THROUGHPUT`."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": THROUGHPUT, "uploadThroughput": -1},
    )
    page.goto(live_server_uvicorn.url + "/health")
    yield page
    context.close()


def top_level_box(path: Path, box_type: bytes) -> tuple[int, int]:
    """(offset, size) in bytes of the first top-level ISO BMFF box of `box_type` (ISO/IEC 14496-12 §4.2)."""
    with path.open("rb") as source:
        offset = 0
        while header := source.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if size == 1:
                size = int.from_bytes(source.read(8), "big")
            if kind == box_type:
                return offset, size
            offset += size
            source.seek(offset)
    raise AssertionError(f"no {box_type!r} box in {path}")


def byte_range(content_range: str) -> tuple[int, int]:
    """(first, last) of a Content-Range "bytes first-last/size"."""
    first, last = content_range.removeprefix("bytes ").split("/")[0].split("-")
    return int(first), int(last)


@pytest.mark.parametrize("name", list(VIDEOS))
def test_video_starts_and_seeks_in_chromium(page, video_urls, shared_media, name):
    url = video_urls[name]
    size = (shared_media / name).stat().st_size
    responses = []
    page.on("response", lambda response: response.url == url and responses.append(response))

    support = page.evaluate("(type) => document.createElement('video').canPlayType(type)", VIDEOS[name])
    assert support == "probably", f"this Chromium cannot play {VIDEOS[name]}: canPlayType gave {support!r}"

    state = page.evaluate(PLAY_AND_SEEK, {"src": url, "seekTo": SEEK_TO})

    assert state["duration"] == pytest.approx(DURATION, abs=0.1)
    assert state["played"] > 0
    assert state["currentTime"] == pytest.approx(SEEK_TO, abs=0.1)
    assert (state["width"], state["height"]) == ((854, 480) if name.endswith(".webm") else (1280, 720))
    assert responses
    for response in responses:  # each a 206 for exactly the range asked for (RFC 9110 §14.4)
        asked = response.request.all_headers()["range"].removeprefix("bytes=")
        first, _, last = asked.partition("-")
        expected = f"bytes {first}-{min(int(last), size - 1) if last else size - 1}/{size}"
        assert (response.status, response.headers["content-range"]) == (206, expected)
    ranges = [byte_range(r.headers["content-range"]) for r in responses]
    # The seek to 10 s, past what had arrived, was a Range request starting after the first byte.
    assert any(first > 0 for first, _ in ranges), ranges
    if name == "venue-tour-moov-at-end.mp4":
        # Chromium had to fetch the index (moov) from the end of the file by a Range request to start playing.
        moov_offset, moov_size = top_level_box(shared_media / name, b"moov")
        assert moov_offset > size // 2
        assert any(0 < first <= moov_offset and last >= moov_offset + moov_size - 1 for first, last in ranges)
