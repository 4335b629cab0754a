"""lebrq.objectstore on local storage (FileSystemStorage) and its S3-only parts' refusals; the same operations
against a real S3-compatible server are in tests/uploads/test_s3_storage.py and tests/bookings/test_invoice_s3.py."""

import os

import pytest
from django.core.files.storage import FileSystemStorage, default_storage

from lebrq import objectstore


@pytest.fixture
def storage(tmp_path):
    return FileSystemStorage(location=tmp_path / "store")


def test_local_storage_is_not_an_object_store(storage, settings):
    assert objectstore.is_object_store(storage) is False
    assert objectstore.is_object_store(default_storage) is False
    assert objectstore.local_path(storage, "a/b.pdf") == os.path.join(storage.location, "a", "b.pdf")
    assert objectstore.incomplete_uploads(storage) == []


def test_s3_storage_is_judged_by_class_without_a_session(settings):
    from storages.backends.s3 import S3Storage

    store = S3Storage(bucket_name="b", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    assert objectstore.is_object_store(store) is True
    assert objectstore.local_path(store, "x") is None
    assert getattr(store._connections, "connection", None) is None  # no boto3 session was made


def test_save_stat_entries_iter_delete_on_local_storage(storage, tmp_path):
    source = tmp_path / "source.pdf"
    source.write_bytes(b"%PDF-" + b"x" * 200_000)
    assert objectstore.save_file(storage, "invoices/BK-1/r1.pdf", source, "application/pdf") == "invoices/BK-1/r1.pdf"
    assert source.exists()  # the source stays
    found = objectstore.stat(storage, "invoices/BK-1/r1.pdf")
    assert found == objectstore.StoredFile(200_005, os.stat(storage.path("invoices/BK-1/r1.pdf")).st_mtime)
    assert objectstore.stat(storage, "invoices/BK-1/none.pdf") is None
    assert [name for name, _ in objectstore.entries(storage, "invoices/BK-1")] == ["invoices/BK-1/r1.pdf"]
    assert objectstore.entries(storage, "invoices/BK-2/") == []
    chunks = list(objectstore.iter_chunks(storage, "invoices/BK-1/r1.pdf", 200_005, chunk_size=65536))
    assert [len(chunk) for chunk in chunks] == [65536, 65536, 65536, 3397]
    assert b"".join(chunks) == source.read_bytes()
    with pytest.raises(OSError, match="ended 5 bytes early"):
        list(objectstore.iter_chunks(storage, "invoices/BK-1/r1.pdf", 200_010))
    objectstore.delete(storage, "invoices/BK-1/r1.pdf")
    objectstore.delete(storage, "invoices/BK-1/r1.pdf")  # gone already: nothing
    assert objectstore.stat(storage, "invoices/BK-1/r1.pdf") is None
