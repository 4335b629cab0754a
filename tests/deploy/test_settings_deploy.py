"""Production settings: `manage.py check --deploy` with deploy/lebrq.env.example, and the deployment knobs of
lebrq/settings.py (HTTPS, storage backend, download offload) read from the environment."""

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "deploy" / "lebrq.env.example"
SETTINGS = ROOT / "lebrq" / "settings.py"

#: Variables that any environment (the developer's, CI's) may set and that change what `check --deploy` says.
DEPLOY_VARIABLES = re.compile(r"^(SECURE_|SESSION_|CSRF_|SECRET_KEY$|DEBUG$|ALLOWED_HOSTS$|DOWNLOAD_|STORAGE_)")


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a systemd EnvironmentFile (comments and blank lines skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def base_environment(tmp_path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not DEPLOY_VARIABLES.match(key)}
    env.pop("DATABASE_URL", None)
    for name in ("MEDIA_ROOT", "FILE_UPLOAD_TEMP_DIR", "STATIC_ROOT", "INVOICE_CACHE_DIR"):
        env[name] = str(tmp_path / name.lower())
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_environment_file(tmp_path):
    production = env_file(ENV_EXAMPLE)
    assert production["SECRET_KEY"] == "CHANGE-ME"
    env = {
        **base_environment(tmp_path),
        **production,
        "SECRET_KEY": secrets.token_urlsafe(50),
        **{name: str(tmp_path / name.lower()) for name in ("MEDIA_ROOT", "FILE_UPLOAD_TEMP_DIR", "STATIC_ROOT")},
        "INVOICE_CACHE_DIR": str(tmp_path / "invoices"),
    }
    result = check_deploy(env)
    assert (result.returncode, result.stdout.strip()) == (0, "System check identified no issues (0 silenced)."), (
        result.stderr
    )


def test_check_deploy_flags_the_development_defaults(tmp_path):
    """Without the production file, the defaults that keep `make run` on plain HTTP are exactly what it reports."""
    result = check_deploy(base_environment(tmp_path))
    assert result.returncode == 1
    assert set(re.findall(r"\((security\.W\d+)\)", result.stderr)) == {
        "security.W004",  # SECURE_HSTS_SECONDS
        "security.W008",  # SECURE_SSL_REDIRECT
        "security.W012",  # SESSION_COOKIE_SECURE
        "security.W016",  # CSRF_COOKIE_SECURE
    }


@pytest.fixture
def load_settings(monkeypatch, tmp_path):
    """Run lebrq/settings.py afresh with extra environment variables; returns its globals."""
    for name in list(os.environ):
        if DEPLOY_VARIABLES.match(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")

    def load(**variables: str) -> dict:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))

    return load


def test_defaults_serve_plain_http_with_local_files(load_settings):
    settings = load_settings()
    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SECURE_PROXY_SSL_HEADER"] is None
    assert settings["SECURE_HSTS_SECONDS"] == 0
    assert settings["STORAGES"]["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {}}
    assert settings["INVOICE_STORAGE"] == ""  # invoices in INVOICE_CACHE_DIR
    assert settings["DOWNLOAD_OFFLOAD"] == ""
    assert settings["DOWNLOAD_OFFLOAD_LOCATIONS"] == {}


def test_production_knobs(load_settings):
    settings = load_settings(
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        STORAGE_BACKEND="storages.backends.s3.S3Storage",
        STORAGE_OPTIONS='{"bucket_name": "lebrq-media", "querystring_expire": 60}',
        DOWNLOAD_OFFLOAD="X-Accel",
        DOWNLOAD_OFFLOAD_LOCATIONS="/srv/lebrq/media=/_protected/media/,/srv/lebrq/invoices=/_protected/invoices/",
    )
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    default = settings["STORAGES"]["default"]
    client_config = default["OPTIONS"].pop("client_config")
    assert default == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "lebrq-media", "querystring_expire": 60},
    }
    # Every wait on the store has a deadline: STORAGE_TIMEOUT (default 10 s) to connect and per read.
    assert (client_config.connect_timeout, client_config.read_timeout) == (10.0, 10.0)
    assert client_config.retries == {"max_attempts": 3, "mode": "standard"}
    assert client_config.max_pool_connections == 32
    assert settings["STORAGE_DOWNLOAD"] == "stream"
    assert settings["DOWNLOAD_OFFLOAD"] == "x-accel"
    assert settings["DOWNLOAD_OFFLOAD_LOCATIONS"] == {
        "/srv/lebrq/media": "/_protected/media/",
        "/srv/lebrq/invoices": "/_protected/invoices/",
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DOWNLOAD_OFFLOAD", "sendfile", "(lebrq.E011) DOWNLOAD_OFFLOAD must be 'x-accel' or empty, got 'sendfile'"),
        (
            "SECURE_PROXY_SSL_HEADER",
            "HTTP_X_FORWARDED_PROTO",
            "(lebrq.E010) SECURE_PROXY_SSL_HEADER must be 'HEADER,value', got ('HTTP_X_FORWARDED_PROTO',)",
        ),
    ],
)
def test_wrong_values_stop_manage_py(tmp_path, name, value, message):
    """Settings load whatever the environment says; the system checks (lebrq/checks.py) refuse it by ID."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base_environment(tmp_path), name: value},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert re.findall(r"\((lebrq\.[EW]\d+)\)", result.stderr) == [message[1:11]]
