"""deploy/nginx/lebrq.conf read as text: with several app hosts, nginx passes a request whose connection failed
to the next host, once, and never a POST it has sent (nginx's `proxy_next_upstream` without `non_idempotent`).
`bench/scale.py` kills an app host under load behind this file."""

import re
from pathlib import Path

CONF = (Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "lebrq.conf").read_text()


def directives(name: str) -> list[str]:
    """The values of every ``name`` directive of the template, comments left out."""
    code = "\n".join(line.split("#", 1)[0] for line in CONF.splitlines())
    return [value.strip() for value in re.findall(rf"^\s*{name}\s+([^;]*);", code, re.MULTILINE)]


def test_a_failed_connection_goes_to_the_next_host_once():
    assert directives("proxy_next_upstream") == ["error timeout"]
    assert directives("proxy_next_upstream_tries") == ["2"]
    assert directives("proxy_connect_timeout") == ["5s"]


def test_a_post_that_was_sent_is_never_sent_again():
    assert "non_idempotent" not in " ".join(directives("proxy_next_upstream"))
