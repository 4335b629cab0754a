"""The settings' system checks (`lebrq.checks`): one test per ID, a good value passing, a bad one reported with
its ID, and the start-up entry point refusing to go on."""

import logging

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from lebrq import checks as lebrq_checks


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_default_settings_pass_every_check():
    assert len(lebrq_checks.SETTINGS_CHECKS) == 10
    for check in lebrq_checks.SETTINGS_CHECKS:
        assert check() == [], check.__name__


def test_the_checks_are_registered_with_django():
    registered = checks.registry.registry.get_checks()
    assert set(lebrq_checks.SETTINGS_CHECKS) <= set(registered)


@pytest.mark.parametrize(("value", "expected"), [(1, []), (64 * 1024, []), (0, ["lebrq.E001"]), (-1, ["lebrq.E001"])])
def test_e001_upload_memory_size_must_be_positive(settings, value, expected):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = value
    messages = lebrq_checks.check_upload_memory_size()
    assert ids(messages) == expected
    if expected:
        assert messages[0].level == checks.ERROR
        assert messages[0].msg == f"FILE_UPLOAD_MAX_MEMORY_SIZE must be a positive number of bytes, got {value!r}."


@pytest.mark.parametrize(
    ("threshold", "critical", "expected"),
    [
        (85.0, 90.0, []),
        (0.5, 1, []),
        (99, 100, []),
        (0, 90, ["lebrq.E002"]),
        (85, 100.5, ["lebrq.E002"]),
        (-1, 101, ["lebrq.E002", "lebrq.E002"]),
        (90, 90, ["lebrq.E003"]),
        (95, 90, ["lebrq.E003"]),
    ],
)
def test_e002_e003_memory_thresholds(settings, threshold, critical, expected):
    settings.MEMORY_THRESHOLD_PERCENT = threshold
    settings.MEMORY_CRITICAL_PERCENT = critical
    assert ids(lebrq_checks.check_memory_protection()) == expected


def test_e003_names_both_values(settings):
    settings.MEMORY_THRESHOLD_PERCENT = 95.0
    (message,) = lebrq_checks.check_memory_protection()
    assert message.msg == "MEMORY_THRESHOLD_PERCENT (95.0) must be below MEMORY_CRITICAL_PERCENT (90.0)."


@pytest.mark.parametrize(("value", "expected"), [(0.25, []), (5, []), (0, ["lebrq.E004"]), (-0.1, ["lebrq.E004"])])
def test_e004_memory_sample_interval_must_be_positive(settings, value, expected):
    settings.MEMORY_SAMPLE_INTERVAL = value
    assert ids(lebrq_checks.check_memory_protection()) == expected


@pytest.mark.parametrize(("value", "expected"), [(1, []), (2, []), (0, ["lebrq.E005"]), (-2, ["lebrq.E005"])])
def test_e005_render_slots_at_least_one(settings, value, expected):
    settings.INVOICE_MAX_CONCURRENT_RENDERS = value
    assert ids(lebrq_checks.check_invoice_renders()) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(1, []), (3, []), (0, ["lebrq.E012"]), (-1, ["lebrq.E012"]), ("2", ["lebrq.E012"])]
)
def test_e012_upload_check_threads_at_least_one(settings, value, expected):
    settings.UPLOAD_CHECK_THREADS = value
    assert ids(lebrq_checks.check_upload_check_threads()) == expected


def test_e012_names_the_setting(settings):
    settings.UPLOAD_CHECK_THREADS = 0
    (message,) = lebrq_checks.check_upload_check_threads()
    assert message.msg == "UPLOAD_CHECK_THREADS must be at least 1 thread, got 0."


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0, "DB_POOL_TIMEOUT": 0.5, "DB_CONNECT_TIMEOUT": 1}, []),
        ({"DB_POOL_SIZE": 0}, ["lebrq.E006"]),
        ({"DB_MAX_OVERFLOW": -1}, ["lebrq.E007"]),
        ({"DB_POOL_TIMEOUT": 0}, ["lebrq.E008"]),
        ({"DB_POOL_TIMEOUT": -1.0}, ["lebrq.E008"]),
        ({"DB_CONNECT_TIMEOUT": 0}, ["lebrq.E009"]),
        ({"DB_POOL_SIZE": -1, "DB_MAX_OVERFLOW": -1}, ["lebrq.E006", "lebrq.E007"]),
    ],
)
def test_e006_to_e009_database_pool(settings, overrides, expected):
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert ids(lebrq_checks.check_database_pool()) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        (("HTTP_X_FORWARDED_PROTO", "https"), []),
        (("HTTP_X_FORWARDED_PROTO",), ["lebrq.E010"]),
        (("A", "b", "c"), ["lebrq.E010"]),
        ("HTTP_X_FORWARDED_PROTO", ["lebrq.E010"]),
    ],
)
def test_e010_secure_proxy_ssl_header_is_a_pair(settings, header, expected):
    settings.SECURE_PROXY_SSL_HEADER = header
    assert ids(lebrq_checks.check_deployment_switches()) == expected


@pytest.mark.parametrize(("value", "expected"), [("", []), ("off", []), ("x-accel", []), ("sendfile", ["lebrq.E011"])])
def test_e011_download_offload_values(settings, value, expected):
    settings.DOWNLOAD_OFFLOAD = value
    messages = lebrq_checks.check_deployment_switches()
    assert ids(messages) == expected
    if expected:
        assert messages[0].msg == "DOWNLOAD_OFFLOAD must be 'x-accel' or empty, got 'sendfile'."


@pytest.mark.parametrize(
    ("renderer", "broker", "expected"),
    [
        ("inline", "", []),
        ("celery", "redis://127.0.0.1:6379/2", []),
        ("celery", "amqp://guest:guest@127.0.0.1:5672//", []),
        ("threads", "", ["lebrq.E013"]),
        ("celery", "", ["lebrq.E014"]),
        ("celery", "sqs://queue", ["lebrq.E014"]),
    ],
)
def test_e013_e014_invoice_renderer_and_its_broker(settings, renderer, broker, expected):
    settings.INVOICE_RENDERER, settings.CELERY_BROKER_URL = renderer, broker
    messages = lebrq_checks.check_invoice_renderer()
    assert ids(messages) == expected
    if expected == ["lebrq.E013"]:
        assert messages[0].msg == "INVOICE_RENDERER must be 'inline' or 'celery', got 'threads'."
    if expected == ["lebrq.E014"]:
        needs = "INVOICE_RENDERER=celery needs a Redis or RabbitMQ CELERY_BROKER_URL"
        assert messages[0].msg == f"{needs}, got {broker!r}."


def test_w001_temp_dir_on_the_media_filesystem_passes(settings, tmp_path):
    # Directories not created yet are judged by the parent they will be created in.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "not" / "yet" / "tmp")
    assert lebrq_checks.check_temp_dir_placement() == []


def test_w001_temp_dir_on_another_filesystem_warns(settings):
    if (
        lebrq_checks.existing_ancestor("/dev/shm").stat().st_dev
        == lebrq_checks.existing_ancestor(settings.MEDIA_ROOT).stat().st_dev
    ):
        pytest.skip("/dev/shm is on the filesystem of the test's MEDIA_ROOT here")
    settings.FILE_UPLOAD_TEMP_DIR = "/dev/shm/lebrq-uploads"
    (message,) = lebrq_checks.check_temp_dir_placement()
    assert message.id == "lebrq.W001"
    assert message.level == checks.WARNING
    assert message.msg.startswith("FILE_UPLOAD_TEMP_DIR (/dev/shm/lebrq-uploads) is on another filesystem")


def test_w001_is_not_about_a_remote_storage(settings):
    settings.FILE_UPLOAD_TEMP_DIR = "/dev/shm/lebrq-uploads"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    assert lebrq_checks.check_temp_dir_placement() == []


def test_existing_ancestor(tmp_path):
    assert lebrq_checks.existing_ancestor(tmp_path / "a" / "b") == tmp_path
    assert lebrq_checks.existing_ancestor(tmp_path) == tmp_path


def test_manage_py_check_fails_naming_the_id(settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    with pytest.raises(SystemCheckError, match=r"\(lebrq\.E001\) FILE_UPLOAD_MAX_MEMORY_SIZE"):
        call_command("check")


def test_startup_checks_refuse_an_error(settings):
    settings.INVOICE_MAX_CONCURRENT_RENDERS = 0
    settings.DB_POOL_SIZE = 0
    with pytest.raises(SystemCheckError) as raised:
        lebrq_checks.run_startup_checks()
    assert str(raised.value).splitlines() == [
        "System check identified errors; not starting:",
        "?: (lebrq.E005) INVOICE_MAX_CONCURRENT_RENDERS must be at least 1, got 0.",
        "\tHINT: With no render slot every invoice request would wait INVOICE_RENDER_WAIT seconds and get 503.",
        "?: (lebrq.E006) DB_POOL_SIZE must be at least 1 connection, got 0.",
    ]


def test_startup_checks_log_warnings_and_go_on(caplog):
    caplog.set_level(logging.WARNING, logger="lebrq.checks")
    checks.register(_warn)
    try:
        assert lebrq_checks.run_startup_checks() is None
    finally:
        checks.registry.registry.registered_checks.discard(_warn)
    assert [record.getMessage() for record in caplog.records] == ["System check: ?: (lebrq.W999) A test warning."]


def test_startup_checks_skip_silenced_errors(settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.SILENCED_SYSTEM_CHECKS = ["lebrq.E001"]
    assert lebrq_checks.run_startup_checks() is None


def _warn(**kwargs):
    return [checks.Warning("A test warning.", id="lebrq.W999")]


def test_e020_e021_e022_shared_storage_settings(settings):
    from lebrq.checks import check_shared_storage

    settings.STORAGE_DOWNLOAD = "redirect"
    settings.INVOICE_STORAGE = "invoices"
    settings.STORAGE_TIMEOUT = 0
    assert [(message.id, message.msg) for message in check_shared_storage()] == [
        ("lebrq.E020", "STORAGE_DOWNLOAD must be 'stream' or 'presigned', got 'redirect'."),
        ("lebrq.E021", "INVOICE_STORAGE must be empty or one of default, staticfiles, got 'invoices'."),
        ("lebrq.E022", "STORAGE_TIMEOUT must be a positive number of seconds, got 0."),
    ]
    settings.STORAGE_DOWNLOAD, settings.INVOICE_STORAGE, settings.STORAGE_TIMEOUT = "presigned", "default", 2.5
    assert check_shared_storage() == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, []), (128 * 1024, []), (32 * 1024 * 1024, []), (32 * 1024 * 1024 + 1, ["lebrq.E023"]),
     (-1, ["lebrq.E023"]), ("131072", ["lebrq.E023"])],
)  # fmt: skip
def test_e023_mmap_threshold_from_zero_to_32_mib(settings, value, expected):
    settings.MALLOC_MMAP_THRESHOLD_BYTES = value
    assert ids(lebrq_checks.check_memory_bounds()) == expected


@pytest.mark.parametrize(("value", "expected"), [(2621440, []), (1, []), (None, ["lebrq.E024"]), (0, ["lebrq.E024"])])
def test_e024_json_body_bound_is_a_positive_size(settings, value, expected):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = value
    assert ids(lebrq_checks.check_memory_bounds()) == expected


def test_e023_and_e024_name_their_settings(settings):
    settings.MALLOC_MMAP_THRESHOLD_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = -1, None
    assert [message.msg for message in lebrq_checks.check_memory_bounds()] == [
        "MALLOC_MMAP_THRESHOLD_BYTES must be a number of bytes from 0 to 33554432, got -1.",
        "DATA_UPLOAD_MAX_MEMORY_SIZE must be a positive number of bytes, got None.",
    ]
