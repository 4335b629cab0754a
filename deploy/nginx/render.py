"""Render deploy/nginx/lebrq.conf into an nginx site file, with paths and limits taken from the Django settings.

    set -a; . /etc/lebrq/lebrq.env; set +a      # the service's environment: MEDIA_ROOT, upload limits, ...
    .venv/bin/python deploy/nginx/render.py --server-name lebrq.example \\
        --certificate /etc/letsencrypt/live/lebrq.example/fullchain.pem \\
        --certificate-key /etc/letsencrypt/live/lebrq.example/privkey.pem > /etc/nginx/sites-available/lebrq.conf

Each ``${NAME}`` of the template is filled; one that has no value is an error, so the file never reaches nginx
half-rendered. nginx's own ``$variables`` (no braces) are left alone.
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).with_name("lebrq.conf")
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def render(template: str, values: dict[str, str]) -> str:
    """`template` with each ``${NAME}`` replaced by ``values[NAME]``; KeyError naming the first one missing."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: str(values[match[1]]), template)


def nginx_time(seconds: float, off: str = "60s") -> str:
    """``seconds`` as an nginx time in whole milliseconds ("2500ms"); ``off`` (nginx's own default, 60 s) when the
    app's limit is 0, i.e. turned off (nginx has no "never")."""
    return f"{round(seconds * 1000)}ms" if seconds > 0 else off


def deadline_values(settings, keep_alive: float) -> dict[str, str]:
    """The template's deadlines and sizes, from the app's own (`lebrq.http.deadlines`), so that nginx and the app
    give a client the same time whichever of them it meets first.

    - CLIENT_HEADER_TIMEOUT: REQUEST_HEADER_TIMEOUT (a whole request head, TLS handshake included, in that time);
    - CLIENT_BODY_TIMEOUT: REQUEST_BODY_RATE_WINDOW (nginx's timeout is between two reads; a window without a byte
      fails the app's rate check too), nginx's 60 s when REQUEST_BODY_MIN_RATE is 0;
    - SEND_TIMEOUT: SEND_TIMEOUT (the client reads nothing for that long);
    - HEADER_BUFFER_SIZE: REQUEST_HEADER_MAX_BYTES in whole KiB, rounded up (nginx's largest request line or
      header field; its buffers, 4 of them, hold one head);
    - UPSTREAM_KEEPALIVE_TIMEOUT: one second less than the app server's keep-alive timeout, `keep_alive` seconds
      (``UVICORN_TIMEOUT_KEEP_ALIVE``): nginx drops an idle upstream connection before the app closes it, so a
      request is never sent on a connection the app is closing (nginx answers 502 to a POST that meets that race).
    """
    body_window = settings.REQUEST_BODY_RATE_WINDOW if settings.REQUEST_BODY_MIN_RATE > 0 else 0
    return {
        "CLIENT_HEADER_TIMEOUT": nginx_time(settings.REQUEST_HEADER_TIMEOUT),
        "CLIENT_BODY_TIMEOUT": nginx_time(body_window),
        "SEND_TIMEOUT": nginx_time(settings.SEND_TIMEOUT),
        "HEADER_BUFFER_SIZE": f"{-(-settings.REQUEST_HEADER_MAX_BYTES // 1024) or 16}k",
        "UPSTREAM_KEEPALIVE_TIMEOUT": nginx_time(max(keep_alive - 1, 1)),
    }


def settings_values() -> dict[str, str]:
    """The template values that come from the Django settings (so from the service's environment).

    MEDIA_ROOT and INVOICE_CACHE_DIR (default var/invoices) back the internal offload locations, STATIC_ROOT the
    /assets/ location; CLIENT_MAX_BODY_SIZE is the largest of UPLOAD_MAX_BYTES, in bytes; MAX_RANGES is the most
    ranges `lebrq.http.conditional` honours in one request; UPLOAD_KINDS the upload kinds' alternation
    (`lebrq.upload_kinds`); the deadlines and sizes of `deadline_values`.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
    import django

    django.setup()
    from django.conf import settings

    from lebrq.http.conditional import MAX_RANGES
    from lebrq.upload_kinds import KIND_ALTERNATION
    from lebrq.workers import TIMEOUT_KEEP_ALIVE

    invoice_cache = getattr(settings, "INVOICE_CACHE_DIR", None) or ROOT / "var" / "invoices"
    return {
        "MEDIA_ROOT": os.path.realpath(settings.MEDIA_ROOT),
        "INVOICE_CACHE_DIR": os.path.realpath(invoice_cache),
        "STATIC_ROOT": os.path.realpath(settings.STATIC_ROOT),
        "CLIENT_MAX_BODY_SIZE": str(max(settings.UPLOAD_MAX_BYTES.values())),
        "MAX_RANGES": str(MAX_RANGES),
        "UPLOAD_KINDS": KIND_ALTERNATION,
        **deadline_values(settings, TIMEOUT_KEEP_ALIVE),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="host name(s) served, e.g. lebrq.example")
    parser.add_argument("--certificate", required=True, help="PEM certificate chain file")
    parser.add_argument("--certificate-key", required=True, help="PEM private key file")
    parser.add_argument("--upstream", action="append", help="app server address, repeatable (default 127.0.0.1:8002)")
    parser.add_argument("--https-listen", default="443", help="listen address of the TLS server (default 443)")
    parser.add_argument("--http-listen", default="80", help="listen address of the redirect server (default 80)")
    parser.add_argument("--access-log", default="/var/log/nginx/lebrq.access.log")
    parser.add_argument("--error-log", default="/var/log/nginx/lebrq.error.log")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)

    values = {
        **settings_values(),
        "SERVER_NAME": args.server_name,
        "SSL_CERTIFICATE": args.certificate,
        "SSL_CERTIFICATE_KEY": args.certificate_key,
        "UPSTREAM_SERVERS": "\n".join(f"    server {address};" for address in args.upstream or ["127.0.0.1:8002"]),
        "HTTPS_LISTEN": args.https_listen,
        "HTTP_LISTEN": args.http_listen,
        "ACCESS_LOG": args.access_log,
        "ERROR_LOG": args.error_log,
    }
    text = render(TEMPLATE.read_text(), values)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
