"""REDbot, the HTTP linter (https://redbot.org), on a real uvicorn worker: a public image, a video, a private
document and an invoice (with the bearer token), and an authenticated JSON list. No note may be at REDbot's "bad"
level; the warnings each answer gets are listed exactly, with the reason in README.md ("HTTP lint").

Each check runs REDbot in its own process (tests/live/redbot_check.py), which follows its active checks
(If-None-Match, If-Modified-Since, Range).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .test_files_live import upload

pytestmark = pytest.mark.live

CHECKER = Path(__file__).with_name("redbot_check.py")

#: Warnings REDbot gives and why they stay (README.md, "HTTP lint").
PUBLIC_CACHE_WARNING = "Cache-Control: public is probably not necessary."  # the issue asks for public, immutable
MP4_SNIFF_WARNING = "The content doesn't match the declared Content-Type."  # its sniffer does not know MP4
NO_STORE_WARNING = "The no-store cache directive overrides other directives."  # private kept for old caches


def redbot(url: str, token: str | None = None) -> dict[str, list[str]]:
    """REDbot's notes on GET ``url``: level → summaries."""
    headers = [f"Authorization: Bearer {token}"] if token else []
    output = subprocess.run(
        [sys.executable, str(CHECKER), url, *headers], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    levels: dict[str, list[str]] = {}
    for note in json.loads(output):
        levels.setdefault(note["level"], []).append(note["summary"])
    return levels


@pytest.fixture(scope="module")
def stored(live_server_uvicorn, shared_media):
    """URLs of a public photo, a public video and a private document, and an invoice, uploaded by the demo customer."""
    with live_server_uvicorn.client() as client:
        photo = upload(client, "image", shared_media / "camera-with-gps.jpg").json()
        video = upload(client, "video", shared_media / "venue-tour.mp4").json()
        document = upload(client, "document", shared_media / "document.pdf").json()
        bookings = client.get("/api/bookings", params={"page_size": 100}).json()["items"]
    demo = next(b for b in bookings if b["booking_reference"] == "BK-00000DE002")
    return {
        "photo": photo["url"],
        "video": video["url"],
        "document": document["url"],
        "invoice": f"/api/bookings/{demo['id']}/invoice",
    }


def test_public_image(live_server_uvicorn, stored):
    notes = redbot(live_server_uvicorn.url + stored["photo"])
    assert notes.get("bad", []) == []
    assert notes.get("warning", []) == [PUBLIC_CACHE_WARNING]
    assert "This response sets a Content Security Policy." in notes["good"]
    assert "A ranged request returned the correct partial content." in notes["good"]
    assert "If-None-Match conditional requests are supported." in notes["good"]


def test_video(live_server_uvicorn, stored):
    notes = redbot(live_server_uvicorn.url + stored["video"])
    assert notes.get("bad", []) == []
    assert sorted(notes.get("warning", [])) == sorted([PUBLIC_CACHE_WARNING, MP4_SNIFF_WARNING])
    assert "A ranged request returned the correct partial content." in notes["good"]


def test_private_document(live_server_uvicorn, stored):
    notes = redbot(live_server_uvicorn.url + stored["document"], live_server_uvicorn.token())
    assert notes.get("bad", []) == []
    assert notes.get("warning", []) == []
    assert "If-None-Match conditional requests are supported." in notes["good"]


def test_invoice(live_server_uvicorn, stored):
    notes = redbot(live_server_uvicorn.url + stored["invoice"], live_server_uvicorn.token())
    assert notes.get("bad", []) == []
    assert notes.get("warning", []) == []
    assert "A ranged request returned the correct partial content." in notes["good"]


def test_authenticated_json_list(live_server_uvicorn):
    notes = redbot(live_server_uvicorn.url + "/api/bookings?page_size=2", live_server_uvicorn.token())
    assert notes.get("bad", []) == []
    assert notes.get("warning", []) == [NO_STORE_WARNING]
