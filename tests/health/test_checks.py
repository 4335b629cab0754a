"""Readiness checks one by one, with fixed disk and pool figures where the real ones would move."""

from collections import namedtuple
from unittest import mock

import pytest

from health.checks import CheckFailed, DatabaseCheck, DiskCheck, HealthCheck, PoolCheck, run_checks

GiB = 1024**3
Usage = namedtuple("Usage", "total used free")


def disk(total: int, free: int):
    return mock.patch("health.checks.shutil.disk_usage", return_value=Usage(total, total - free, free))


def test_disk_check_reports_free_space(settings):
    settings.HEALTH_DISK_MIN_FREE_BYTES = GiB
    settings.HEALTH_DISK_MIN_FREE_PERCENT = 5
    with disk(total=100 * GiB, free=10 * GiB):
        assert DiskCheck("media_root", "MEDIA_ROOT").check() == {
            "path": settings.MEDIA_ROOT,
            "free_bytes": 10 * GiB,
            "total_bytes": 100 * GiB,
            "free_percent": 10.0,
        }


def test_disk_check_fails_below_the_byte_threshold(settings):
    settings.HEALTH_DISK_MIN_FREE_BYTES = GiB
    settings.HEALTH_DISK_MIN_FREE_PERCENT = 0
    with disk(total=100 * GiB, free=GiB - 1), pytest.raises(CheckFailed) as failed:
        DiskCheck("media_root", "MEDIA_ROOT").check()
    assert failed.value.message == (
        "1073741823 bytes (1%) free in MEDIA_ROOT; at least 1073741824 bytes and 0% are needed."
    )
    assert failed.value.details["free_bytes"] == GiB - 1


def test_disk_check_fails_below_the_percent_threshold(settings):
    settings.HEALTH_DISK_MIN_FREE_BYTES = 0
    settings.HEALTH_DISK_MIN_FREE_PERCENT = 5
    with disk(total=1000 * GiB, free=49 * GiB), pytest.raises(CheckFailed) as failed:
        DiskCheck("file_upload_temp_dir", "FILE_UPLOAD_TEMP_DIR").check()
    assert failed.value.details["free_percent"] == 4.9
    with disk(total=1000 * GiB, free=50 * GiB):
        assert DiskCheck("file_upload_temp_dir", "FILE_UPLOAD_TEMP_DIR").check()["free_percent"] == 5.0


def test_disk_check_fails_for_a_missing_directory(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "gone")
    with pytest.raises(CheckFailed) as failed:
        DiskCheck("media_root", "MEDIA_ROOT").check()
    assert failed.value.message == "MEDIA_ROOT is not usable: No such file or directory."
    assert failed.value.details == {"path": str(tmp_path / "gone")}


def pool(in_use: int):
    state = {"in_use": in_use, "max_connections": 4}
    return mock.patch("health.checks.pool_state", return_value=state)


def test_pool_check_reports_saturation(settings):
    settings.HEALTH_POOL_MAX_PERCENT = 100
    with pool(3):
        assert PoolCheck().check() == {"in_use": 3, "max_connections": 4, "saturation_percent": 75.0}


def test_pool_check_fails_when_no_thread_is_left(settings):
    settings.HEALTH_POOL_MAX_PERCENT = 100
    with pool(4), pytest.raises(CheckFailed) as failed:
        PoolCheck().check()
    assert failed.value.message == "4 of 4 request threads (one DB connection each) are in use (limit 100%)."
    assert failed.value.details["saturation_percent"] == 100.0


def test_pool_check_threshold_is_a_setting(settings):
    settings.HEALTH_POOL_MAX_PERCENT = 50
    with pool(2), pytest.raises(CheckFailed):
        PoolCheck().check()
    with pool(1):
        assert PoolCheck().check()["saturation_percent"] == 25.0


def test_pool_check_at_a_zero_limit_is_always_down(settings):
    settings.HEALTH_POOL_MAX_PERCENT = 0
    with pool(0), pytest.raises(CheckFailed):
        PoolCheck().check()


@pytest.mark.django_db
def test_database_check_runs_select_1():
    from django.db import connection

    with mock.patch.object(connection, "cursor", wraps=connection.cursor) as cursor:
        assert DatabaseCheck().check() == {"vendor": connection.vendor}
    assert cursor.call_count == 1


class Broken(HealthCheck):
    name = "broken"

    def check(self):
        raise RuntimeError("x" * 300)


class Fine(HealthCheck):
    name = "fine"

    def check(self):
        return {"answer": 42}


class Failing(HealthCheck):
    name = "failing"

    def check(self):
        raise CheckFailed("Not today.", reason="test")


def test_run_checks_reports_every_check_the_same_way():
    failing, reports = run_checks([Fine(), Failing(), Broken()])
    assert failing == ["failing", "broken"]
    assert reports == {
        "fine": {"status": "ok", "answer": 42},
        "failing": {"status": "down", "error": "Not today.", "reason": "test"},
        "broken": {"status": "down", "error": "x" * 200},
    }
