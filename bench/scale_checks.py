"""The figures of bench/scale.py and their targets, pure (tested in tests/bench/test_scale.py): each measured
figure becomes a `Check`; `verdict` decides ``--check``; `summary_line` is the run's last line."""

import statistics
from collections import defaultdict
from dataclasses import dataclass

TARGET_SUCCESS_PERCENT = 99.9  # the seed's success criterion, during the failover
TARGET_GET_SUCCESS_PERCENT = 100.0  # nginx passes a failed idempotent request to the other host
TARGET_SCALING = 1.4  # booking reads/s, two app hosts over one (reported, not gated)
TARGET_RSS_MB = 400  # the seed's memory criterion, per worker
SKIPPED = "skipped: backend not available"


@dataclass(frozen=True)
class Check:
    """One figure: ``met`` True or False, or None when the step was skipped (``measured`` says why); only a
    ``gated`` check that is not met fails ``--check``."""

    step: str  # consistency, failover, scaling, memory
    name: str
    target: str
    measured: str
    met: bool | None
    gated: bool = True
    short: str = ""  # the figure in the last line, if any


def skipped(step: str, name: str, target: str) -> Check:
    return Check(step, name, target, SKIPPED, None)


def verdict(checks: list[Check]) -> bool:
    """True when no gated check is missed (a skipped one is not a miss) and there is at least one check."""
    return bool(checks) and all(check.met is not False for check in checks if check.gated)


def result(check: Check) -> str:
    if check.met is None:
        return "skipped"
    if not check.gated:
        return "reported" if check.met else "below target (not gated)"
    return "yes" if check.met else "**no**"


def invoice_serial(number: str) -> tuple[str, int]:
    """``"LB/26-27/000123"`` → ``("26-27", 123)``: the financial year and serial (bookings.invoicing.numbering).

    Raises ValueError for a number not of that shape."""
    *_, year, serial = number.split("/")
    return year, int(serial)


def gapless(numbers: list[str]) -> tuple[bool, str]:
    """Whether the tax invoice ``numbers`` (all issued so far) are distinct and, per financial year, exactly the
    serials 1…n (CGST Rules 2017, Rule 46(b): consecutive); with a description of what is wrong, or of the run."""
    if len(set(numbers)) != len(numbers):
        repeated = sorted({number for number in numbers if numbers.count(number) > 1})
        return False, f"repeated: {', '.join(repeated)}"
    years: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        year, serial = invoice_serial(number)
        years[year].append(serial)
    for year, serials in sorted(years.items()):
        missing = sorted(set(range(1, max(serials) + 1)) - set(serials))
        if missing:
            return False, f"{year}: serials missing {missing[:10]}"
    return True, ", ".join(f"{year}: 1–{max(serials)}" for year, serials in sorted(years.items()))


def success_percent(statuses: list[tuple[str, int, int]]) -> tuple[float, float, int]:
    """(success % of all, success % of GETs, failed POSTs) of ``(method, status, expected status)`` triples;
    100.0 for an empty set."""

    def percent(rows):
        return 100.0 * sum(status == expected for _, status, expected in rows) / len(rows) if rows else 100.0

    gets = [row for row in statuses if row[0] == "GET"]
    failed_posts = sum(1 for method, status, expected in statuses if method == "POST" and status != expected)
    return percent(statuses), percent(gets), failed_posts


def reconcile(rows: dict[str, int], objects: dict[str, int], unfinished: int) -> list[str]:
    """Problems between the upload rows (name → size in bytes) and the stored objects (name → size): an object
    without its row, a row without its object or of another size, unfinished multipart uploads. Empty when none."""
    problems = [f"object without a row: {name}" for name in sorted(set(objects) - set(rows))]
    problems += [f"row without its object: {name}" for name in sorted(set(rows) - set(objects))]
    problems += [
        f"{name}: {objects[name]} bytes stored, row says {size}"
        for name, size in sorted(rows.items())
        if name in objects and objects[name] != size
    ]
    if unfinished:
        problems.append(f"{unfinished} unfinished multipart upload(s)")
    return problems


def scaling_ratio(one_host: list[float], two_hosts: list[float]) -> float:
    """Median reads/s with two app hosts over the median with one; 0.0 when one of them is empty or zero."""
    if not one_host or not two_hosts or statistics.median(one_host) == 0:
        return 0.0
    return statistics.median(two_hosts) / statistics.median(one_host)


def summary_line(checks: list[Check]) -> str:
    """One line: per step the checks met out of those run (and skipped), the key figures, and PASS/FAIL."""
    parts = []
    for step in ("consistency", "failover", "scaling", "memory"):
        mine = [check for check in checks if check.step == step]
        if not mine:
            parts.append(f"{step} not run")
            continue
        ran = [check for check in mine if check.met is not None]
        figures = ", ".join(check.short for check in ran if check.short)
        counted = f"{sum(bool(check.met) for check in ran)}/{len(ran)} met"
        skipped_count = len(mine) - len(ran)
        text = f"{step} {counted}" + (f", {skipped_count} skipped" if skipped_count else "")
        parts.append(text + (f" ({figures})" if figures else ""))
    return "scale: " + " | ".join(parts) + (" | PASS" if verdict(checks) else " | FAIL")
