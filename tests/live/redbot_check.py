"""Run REDbot (https://redbot.org, PyPI ``redbot``) on one URL and print its notes as JSON, one process per URL.

    python tests/live/redbot_check.py URL [HEADER: VALUE ...]

Output: ``[{"level": "bad"|"warning"|"good"|"info", "summary": str, "subject": str, "category": str}, ...]`` for
the response's notes and their sub-notes, after REDbot's active checks (conditional requests, ranges, content
negotiation). A process per check keeps REDbot's event loop (thor) out of the test process.
"""

import json
import sys
from configparser import ConfigParser


def notes_of(url: str, headers: list[tuple[str, str]]) -> list[dict]:
    """REDbot's notes on GET ``url`` with ``headers`` (e.g. Authorization), flattened."""
    import thor
    from redbot.resource import HttpResource

    config = ConfigParser()
    config.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(config["redbot"], descend=False)
    resource.set_request(url, headers=headers)

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    resource.check()
    thor.run()
    if resource.fetch_error is not None:
        raise RuntimeError(f"REDbot could not fetch {url}: {resource.fetch_error.desc}")
    found = []
    for note in resource.response.notes:
        for item in [note, *note.subnotes]:
            found.append(
                {
                    "level": item.level.value,
                    "summary": str(item.summary),
                    "subject": item.subject,
                    "category": str(item.category.value),
                }
            )
    return found


if __name__ == "__main__":
    pairs = [tuple(part.strip() for part in header.split(":", 1)) for header in sys.argv[2:]]
    print(json.dumps(notes_of(sys.argv[1], pairs), indent=1))
