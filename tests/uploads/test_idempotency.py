"""Idempotency-Key on uploads: a repeated POST answers the upload the first one created, never stores a second."""

from pathlib import Path
from unittest import mock

import pytest

from lebrq.exceptions import InvalidInput
from uploads.models import Upload
from uploads.services import idempotency_key

pytestmark = pytest.mark.django_db

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def stored_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def post(client, shared_media, key: str | None, kind: str = "image"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    with (shared_media / "camera-with-gps.jpg").open("rb") as source:
        return client.post(f"/api/uploads/{kind}", {"file": source}, format="multipart", **headers)


@pytest.mark.parametrize(
    ("header", "key"),
    [(None, None), (KEY, KEY), (f'"{KEY}"', KEY), (" abc ", "abc"), ("x" * 64, "x" * 64), ("!#[]~", "!#[]~")],
)
def test_idempotency_key_accepts_visible_ascii_bare_or_quoted(header, key):
    assert idempotency_key(header) == key


@pytest.mark.parametrize("header", ["", '""', "x" * 65, "a b", 'a"b', "a\\b", "caf\u00e9", '"abc', "abc\t1"])
def test_idempotency_key_refuses_anything_else(header):
    with pytest.raises(InvalidInput) as caught:
        idempotency_key(header)
    assert (caught.value.field, caught.value.reason) == ("Idempotency-Key", "invalid_idempotency_key")


def test_repeated_post_answers_the_first_upload(customer_api, customer, shared_media, settings):
    first = post(customer_api, shared_media, KEY)
    again = post(customer_api, shared_media, f'"{KEY}"')  # the same key as a Structured Fields string
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    upload = Upload.objects.get()
    assert (upload.id, upload.owner, upload.idempotency_key) == (first.json()["id"], customer, KEY)
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / upload.name]
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_without_a_key_every_post_is_a_new_upload(customer_api, shared_media, settings):
    ids = [post(customer_api, shared_media, None).json()["id"] for _ in range(2)]
    assert ids[0] != ids[1]
    assert Upload.objects.count() == 2
    assert list(Upload.objects.values_list("idempotency_key", flat=True)) == [None, None]
    assert len(stored_files(settings)) == 2


def test_the_same_key_of_another_account_is_its_own_upload(
    customer_api, other_api, customer, other_customer, shared_media, settings
):
    mine, theirs = post(customer_api, shared_media, KEY), post(other_api, shared_media, KEY)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    owners = dict(Upload.objects.values_list("owner_id", "idempotency_key"))
    assert owners == {customer.id: KEY, other_customer.id: KEY}
    assert len(stored_files(settings)) == 2


def test_a_key_used_for_another_kind_is_422_and_stores_nothing(customer_api, shared_media, settings):
    first = post(customer_api, shared_media, KEY)
    reused = post(customer_api, shared_media, KEY, kind="video")
    assert reused.status_code == 422
    assert reused.json() == {
        "detail": "This Idempotency-Key was used for an upload of kind 'image'.",
        "success": False,
        "message": "This Idempotency-Key was used for an upload of kind 'image'.",
        "code": "idempotency_key_reused",
    }
    assert list(Upload.objects.values_list("id", flat=True)) == [first.json()["id"]]
    assert len(stored_files(settings)) == 1
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_a_malformed_key_is_400_and_stores_nothing(customer_api, shared_media, settings):
    response = post(customer_api, shared_media, "x" * 65)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["detail"])) == ("invalid_idempotency_key", ["Idempotency-Key"])
    assert Upload.objects.count() == 0
    assert stored_files(settings) == []
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []


def test_a_duplicate_racing_the_first_is_resolved_by_the_unique_constraint(customer_api, shared_media, settings):
    """The second POST looks the key up before the first has committed (the lookup finds nothing), stores its bytes,
    then its insert hits the unique (owner, key) constraint: its bytes are removed and the first upload answered."""
    first = post(customer_api, shared_media, KEY)
    with mock.patch("uploads.views.earlier_upload", return_value=None) as lookup:
        racing = post(customer_api, shared_media, KEY)
    assert lookup.call_count == 1
    assert racing.status_code == 201
    assert racing.json() == first.json()
    upload = Upload.objects.get()
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / upload.name]
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
