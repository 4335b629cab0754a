"""Swagger UI at /api/docs/ uploads a file with "Try it out": headless Chromium (Debian's ``chromium``, driven by
Playwright) opens the docs page of a real uvicorn worker, authorizes with a bearer token, chooses a real photo
for the image upload's ``file`` field and executes it. The upload must be a 201 whose stored file is the photo
without its location metadata.

Like the other browser tests, it runs in the SQLite pass only, and without Chromium it is skipped locally with
the reason and fails under CI.
"""

import hashlib
import os

import httpx
import pytest

from tests.live.test_browser_live import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("mysql"),
        reason="the browser tests do not depend on the database: they run in the SQLite pass",
    ),
]

PHOTO = "camera-with-gps.jpg"
#: Swagger UI's element id of an operation: ``operations-<tag>-<operationId>``.
IMAGE_UPLOAD = "#operations-api-api_uploads_image_create"
TIMEOUT = 30_000  # milliseconds, for each step in the page


@pytest.fixture(scope="module")
def docs_browser():
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


def test_try_it_out_uploads_an_image_from_the_docs_page(
    docs_browser, live_server_uvicorn, shared_media, scrubbed_photo
):
    from uploads import scrub

    server = live_server_uvicorn
    token = server.token()
    context = docs_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(server.url + "/api/docs/")
        # Authorize: the bearer scheme (jwtAuth) takes the token itself.
        page.click(".swagger-ui .auth-wrapper .authorize")
        page.fill(".auth-container input[type=text]", token)
        page.click(".auth-btn-wrapper button.authorize")
        page.click(".auth-btn-wrapper button.btn-done")
        # The image upload: open it, try it out, choose the photo, execute.
        operation = page.locator(IMAGE_UPLOAD)
        operation.locator(".opblock-summary").first.click()
        operation.locator("button.try-out__btn").click()
        file_input = operation.locator("input[type=file]")
        assert file_input.count() == 1  # a file chooser, not a text box
        file_input.set_input_files(str(shared_media / PHOTO))
        with page.expect_response(lambda r: r.url == server.url + "/api/uploads/image") as answer:
            operation.locator("button.execute").click()
        response = answer.value
        request = response.request
        shown_status = operation.locator(".live-responses-table tbody .response .response-col_status").inner_text()
        body = response.json()
    finally:
        context.close()

    assert (request.method, response.status, shown_status.strip()) == ("POST", 201, "201")
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")

    # The stored upload, as the API and the disk have it: the photo's own bytes (the file was sent, not its name
    # or a URL) without its GPS block, as uploads.scrub removes it.
    assert (body["kind"], body["name"], body["content_type"], body["url"]) == (
        "image",
        PHOTO,
        "image/jpeg",
        f"/static/{body['path']}",
    )
    stored = server.media_root / body["path"]
    data = stored.read_bytes()
    assert (len(data), f'"{hashlib.sha256(data).hexdigest()}"') == (body["size"], body["etag"])
    assert data == scrubbed_photo.read_bytes()
    assert scrub.private_metadata(stored, "image/jpeg") == []
    assert scrub.private_metadata(shared_media / PHOTO, "image/jpeg") != []
    own = httpx.get(f"{server.url}/api/uploads/{body['id']}", headers={"Authorization": f"Bearer {token}"})
    assert (own.status_code, own.json()) == (200, body)
    served = httpx.get(server.url + body["url"])
    assert (served.status_code, served.content) == (200, data)
