"""The admin under uvicorn: its CSS loads, streamed without draining a sync iterator into memory."""

import re

import httpx
import pytest

pytestmark = pytest.mark.live


def test_admin_login_page_and_css_load(live_server_uvicorn):
    page = httpx.get(live_server_uvicorn.url + "/admin/login/")
    assert page.status_code == 200
    stylesheets = re.findall(r'href="(/assets/admin/css/[^"]+\.css)"', page.text)
    assert stylesheets
    for href in stylesheets:
        css = httpx.get(live_server_uvicorn.url + href)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert len(css.content) == int(css.headers["content-length"])
    assert "synchronous iterators" not in live_server_uvicorn.log.read_text()


def test_docs_page_assets_are_served_locally(live_server_uvicorn):
    page = httpx.get(live_server_uvicorn.url + "/api/docs/")
    assert page.status_code == 200
    scripts = re.findall(r'src="(/assets/drf_spectacular_sidecar/[^"]+\.js)"', page.text)
    assert scripts
    assert httpx.get(live_server_uvicorn.url + scripts[0]).status_code == 200
