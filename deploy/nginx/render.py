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


def settings_values() -> dict[str, str]:
    """The template values that come from the Django settings (so from the service's environment).

    MEDIA_ROOT and INVOICE_CACHE_DIR (default var/invoices) back the internal offload locations, STATIC_ROOT the
    /assets/ location; CLIENT_MAX_BODY_SIZE is the largest of UPLOAD_MAX_BYTES, in bytes; MAX_RANGES is the most
    ranges `lebrq.http.conditional` honours in one request; UPLOAD_KINDS the upload kinds' alternation
    (`lebrq.upload_kinds`).
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lebrq.settings")
    import django

    django.setup()
    from django.conf import settings

    from lebrq.http.conditional import MAX_RANGES
    from lebrq.upload_kinds import KIND_ALTERNATION

    invoice_cache = getattr(settings, "INVOICE_CACHE_DIR", None) or ROOT / "var" / "invoices"
    return {
        "MEDIA_ROOT": os.path.realpath(settings.MEDIA_ROOT),
        "INVOICE_CACHE_DIR": os.path.realpath(invoice_cache),
        "STATIC_ROOT": os.path.realpath(settings.STATIC_ROOT),
        "CLIENT_MAX_BODY_SIZE": str(max(settings.UPLOAD_MAX_BYTES.values())),
        "MAX_RANGES": str(MAX_RANGES),
        "UPLOAD_KINDS": KIND_ALTERNATION,
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
