"""`make test`: the suite on SQLite, then again on MariaDB/MySQL when one is configured or answers.

- ``DATABASE_URL`` set to a mysql:// URL: the second run uses it; otherwise ``mysql://root@127.0.0.1:3306/lebrq``
  is used if something answers on 127.0.0.1:3306.
- ``REQUIRE_MYSQL=1``: a MariaDB that does not answer is a failure, not a skip.
- Extra arguments go to pytest (e.g. ``make test ARGS=-x`` is not needed: ``.venv/bin/python
  scripts/run_tests.py -k ranges``). Benchmarks marked ``slow`` are not run.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/lebrq"


def mysql_answers(host: str = "127.0.0.1", port: int = 3306) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def run(label: str, database_url: str | None, args: list[str]) -> int:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    print(f"\n=== tests on {label} ===", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", "-m", "not slow", *args], cwd=ROOT, env=env)


def main(args: list[str]) -> int:
    configured = os.environ.get("DATABASE_URL", "")
    mysql_url = configured if configured.startswith("mysql") else None
    if mysql_url is None and mysql_answers():
        mysql_url = DEFAULT_MYSQL_URL
    if mysql_url is None and os.environ.get("REQUIRE_MYSQL") == "1":
        print("REQUIRE_MYSQL=1 but MariaDB/MySQL does not answer on 127.0.0.1:3306", file=sys.stderr)
        return 1

    status = run("SQLite", None, args)
    if mysql_url:
        status = run("MariaDB", mysql_url, args) or status
    else:
        print("\nMariaDB/MySQL not reachable: the MariaDB run was skipped (REQUIRE_MYSQL=1 makes this an error).")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
