"""``python manage.py cleanup_upload_temp --older-than SECONDS``: remove orphan temporary files from
FILE_UPLOAD_TEMP_DIR.

A request removes its temporary files when it ends, however it ends; only a worker killed outright (SIGKILL,
OOM killer, power loss) leaves them behind. This command removes those left for longer than ``--older-than``
seconds (by modification time: a file still being written is recent). Only regular files whose names are
those of the project's temporary files (`lebrq.tempfiles.CLEANUP_NAMES`: request spools, multipart uploads,
invoice renders, the admin's invoice ZIPs) are touched, never anything else in the directory. The directory is
read entry by entry (os.scandir), so a huge one costs no memory; a progress bar (tqdm) shows on a terminal.
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from lebrq.tempfiles import CLEANUP_NAMES


@dataclass(frozen=True)
class Orphan:
    """A temporary file old enough to remove: `path`, `size` in bytes, `age` in seconds."""

    path: str
    size: int
    age: float


def scan(directory: str, older_than: float, now: float, on_entry=None) -> Iterator[Orphan]:
    """Yield the files of `directory` (not its subdirectories) named per `lebrq.tempfiles.CLEANUP_NAMES`, regular
    (a symlink is not followed) and last modified more than `older_than` seconds before `now` (epoch seconds).
    `on_entry()` is called once per directory entry read. Entries that vanish meanwhile are skipped."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if on_entry is not None:
                on_entry()
            if not CLEANUP_NAMES.fullmatch(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            age = now - stat.st_mtime
            if age > older_than:
                yield Orphan(entry.path, stat.st_size, age)


def count_entries(directory: str) -> int:
    """Number of entries in `directory`, read one at a time."""
    with os.scandir(directory) as entries:
        return sum(1 for _ in entries)


class Command(BaseCommand):
    help = (
        "Remove orphan temporary files (uploads, request spools, invoice renders and ZIPs; left by a killed "
        "worker) older than --older-than seconds from FILE_UPLOAD_TEMP_DIR; other files are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            required=True,
            metavar="SECONDS",
            help="Only files last modified more than this many seconds ago (e.g. 86400: longer than any upload).",
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be removed; remove nothing.")
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Show a progress bar on stderr (default: when stderr is a terminal).",
        )

    def handle(self, *args, older_than, dry_run, progress, **options):
        if older_than < 0:
            raise CommandError("--older-than must be >= 0 seconds.")
        directory = str(settings.FILE_UPLOAD_TEMP_DIR)
        if not os.path.isdir(directory):
            raise CommandError(f"FILE_UPLOAD_TEMP_DIR {directory} is not a directory.")
        out = options.get("stdout") or sys.stdout
        err = options.get("stderr") or sys.stderr
        show = err.isatty() if progress is None else progress
        removed, freed, scanned = 0, 0, 0

        def entry_read():
            nonlocal scanned
            scanned += 1
            bar.update()

        with tqdm(total=count_entries(directory) if show else None, unit="entry", file=err, disable=not show) as bar:
            for orphan in scan(directory, older_than, time.time(), on_entry=entry_read):
                if not dry_run:
                    try:
                        os.unlink(orphan.path)
                    except FileNotFoundError:  # its request ended meanwhile
                        continue
                removed += 1
                freed += orphan.size
                verb = "would remove" if dry_run else "removed"
                bar.write(f"{verb} {orphan.path} ({orphan.size} bytes, {orphan.age:.0f} s old)", file=out)
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{verb} {removed} orphan temporary file(s), {freed} bytes, older than {older_than:g} s "
            f"from {directory} ({scanned} entries scanned)."
        )
