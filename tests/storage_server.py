"""A real S3-compatible server for the tests and benchmarks: moto in server mode (``moto_server``), a separate
process reached only over HTTP. No pytest here, so bench scripts can import it."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.live.harness import free_port, stop_process

#: Credentials and region the server accepts (moto takes any); set in the environment of servers under test.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "lebrq-test",
    "AWS_SECRET_ACCESS_KEY": "lebrq-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    """``moto_server`` on 127.0.0.1:<free port>, started by `start` and ended by `stop`; ``endpoint`` its URL."""

    def __init__(self, log: Path):
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.popen: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "S3Server":
        """Start the server and wait until it answers; raises RuntimeError (with its log) if it cannot."""
        executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        if executable is None:
            raise RuntimeError("moto_server is not installed (moto[server], requirements-dev.txt)")
        self.popen = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **S3_ENV},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()}")
            try:
                httpx.get(self.endpoint + "/moto-api/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint}: {self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.popen)

    def client(self):
        """A boto3 S3 client of this server (for the tests' own checks: listing, multipart uploads)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", **_credentials())

    def new_bucket(self) -> str:
        """Create a bucket with a fresh name and return the name."""
        name = f"lebrq-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_options(self, bucket: str, location: str = "") -> dict:
        """STORAGE_OPTIONS (the keyword arguments of django-storages' S3Storage) for ``bucket`` on this server."""
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint,
            "region_name": "us-east-1",
            "addressing_style": "path",
            "location": location,
            "file_overwrite": False,
            "querystring_expire": 300,
            "access_key": S3_ENV["AWS_ACCESS_KEY_ID"],
            "secret_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        }

    def server_env(self, bucket: str, location: str = "") -> dict:
        """Environment variables that put an app server's media and invoices in ``bucket`` on this server."""
        options = self.storage_options(bucket, location)
        return {
            **S3_ENV,
            "STORAGE_BACKEND": "storages.backends.s3.S3Storage",
            "STORAGE_OPTIONS": json.dumps(options),
            "INVOICE_STORAGE": "default",
            # moto answers CompleteMultipartUpload only once it has joined the parts, silent meanwhile (S3 itself
            # sends keep-alive whitespace): ~11 s for 1 GiB here, past the default 10 s read timeout.
            "STORAGE_TIMEOUT": "120",
        }


def _credentials() -> dict:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def keys(client, bucket: str, prefix: str = "") -> list[str]:
    """Every key in ``bucket`` below ``prefix``, sorted."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", ())]
    return sorted(found)


def open_multipart_uploads(client, bucket: str) -> list[str]:
    """Keys of the multipart uploads begun in ``bucket`` and neither completed nor aborted."""
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", ())]
