"""``python manage.py scrub_media``: remove location and device metadata from images and videos already stored.

New uploads are scrubbed before they are stored (`uploads.services.check_content`); this command brings files
stored before that up to the same rule. For each `Upload` of a type `uploads.scrub` handles, in id order:
ExifTool looks for private tags (`scrub.private_metadata`); a clean file is left alone, so running the command
again, or after an interruption, only redoes the files still carrying them (resumable; ``--after-id`` skips
ahead). A file to scrub is copied beside itself, scrubbed (`scrub.scrub_file`), renamed over the original (atomic:
a download in progress keeps reading the old bytes) and its row's size and SHA-256 (the ETag) updated.
``--dry-run`` lists what would change. A progress bar (tqdm) shows on a terminal.
"""

import argparse
import os
import shutil
import sys
import tempfile

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from tqdm import tqdm

from uploads import scrub
from uploads.models import Upload


class Command(BaseCommand):
    help = "Remove location and device metadata (GPS, serial numbers, maker notes, XMP/IPTC) from stored media."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List the files and tags; change nothing.")
        parser.add_argument(
            "--after-id", type=int, default=0, metavar="ID", help="Start after this upload id (resume a run)."
        )
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Show a progress bar on stderr (default: when stderr is a terminal).",
        )

    def handle(self, *args, dry_run, after_id, progress, **options):
        err = options.get("stderr") or sys.stderr
        show = err.isatty() if progress is None else progress
        types = [*scrub.WRITABLE_TYPES, *scrub.READ_ONLY_TYPES]
        uploads = Upload.objects.filter(content_type__in=types, pk__gt=after_id).order_by("pk")
        scrubbed = clean = failed = 0
        last_id = after_id
        with tqdm(total=uploads.count(), unit="file", file=err, disable=not show) as bar:
            for upload in uploads.iterator(chunk_size=200):
                outcome = self.scrub_one(upload, dry_run)
                if outcome is None:
                    clean += 1
                else:
                    bar.write(outcome, file=self.stdout)
                    if outcome.startswith("failed"):
                        failed += 1
                    else:
                        scrubbed += 1
                last_id = upload.pk
                bar.update()
        verb = "Would scrub" if dry_run else "Scrubbed"
        self.stdout.write(
            f"{verb} {scrubbed} file(s); {clean} already clean; {failed} failed; last upload id {last_id}."
        )

    def scrub_one(self, upload: Upload, dry_run: bool) -> str | None:
        """Scrub one stored file; a line to print, or None when it was already clean."""
        try:
            path = default_storage.path(upload.name)
            found = scrub.private_metadata(path, upload.content_type)
        except (OSError, NotImplementedError, scrub.MetadataNotRemovable) as exc:
            return f"failed {upload.pk} {upload.name}: {exc}"
        if not found:
            return None
        tags = ", ".join(found)
        if dry_run:
            return f"would scrub {upload.pk} {upload.name}: {tags}"
        if upload.content_type not in scrub.WRITABLE_TYPES:
            return f"failed {upload.pk} {upload.name}: {upload.content_type} cannot be rewritten ({tags})"
        directory = os.path.dirname(path)
        handle, work = tempfile.mkstemp(prefix=".scrub-", suffix=os.path.splitext(path)[1], dir=directory)
        os.close(handle)
        try:
            shutil.copyfile(path, work)
            result = scrub.scrub_file(work, upload.content_type)
            if not result.changed:
                return None
            os.chmod(work, os.stat(path).st_mode & 0o777)
            os.replace(work, path)
        except (OSError, scrub.MetadataNotRemovable) as exc:
            return f"failed {upload.pk} {upload.name}: {exc}"
        finally:
            if os.path.exists(work):
                os.unlink(work)
        Upload.objects.filter(pk=upload.pk).update(size=result.size, sha256=result.sha256)
        return f"scrubbed {upload.pk} {upload.name}: {tags} ({upload.size} → {result.size} bytes)"
