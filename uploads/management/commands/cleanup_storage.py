"""``python manage.py cleanup_storage --older-than SECONDS``: what a killed process left in the object store.

An upload is sent to the store before its row is written, and a failed row removes the object again; a failed
multipart upload is aborted. Only a process killed outright (SIGKILL, OOM killer, power loss) in the middle leaves
something behind: an incomplete multipart upload (its parts are stored, and billed, until aborted), or an object
whose row was never written. This command aborts the first and removes the second, when older than
``--older-than`` seconds (an upload still running is younger). Only the upload kinds' directories ("images/",
"videos/", "documents/") are looked at for objects. Nothing to do on local storage (see cleanup_upload_temp).
"""

import time

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from lebrq import objectstore
from lebrq.upload_kinds import UPLOAD_KINDS
from uploads.models import Upload


def orphan_objects(older_than: float, now: float) -> list[str]:
    """Names of the stored uploads (below each kind's directory) that have no `Upload` row and were last modified
    more than ``older_than`` seconds before ``now`` (epoch seconds)."""
    orphans = []
    for kind in UPLOAD_KINDS:
        listing = objectstore.entries(default_storage, f"{kind}s/")
        old = [name for name, modified in listing if now - modified > older_than]
        known = set(Upload.objects.filter(name__in=old).values_list("name", flat=True)) if old else set()
        orphans += [name for name in old if name not in known]
    return orphans


class Command(BaseCommand):
    help = "Abort incomplete multipart uploads and remove objects without a row, older than --older-than seconds."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, required=True, metavar="SECONDS")
        parser.add_argument("--dry-run", action="store_true", help="list them, change nothing")

    def handle(self, *args, older_than: float, dry_run: bool, **options):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more seconds")
        if not objectstore.is_object_store(default_storage):
            self.stdout.write("The default storage is local: nothing to do (see cleanup_upload_temp).")
            return
        now = time.time()
        if dry_run:
            listing = objectstore.incomplete_uploads(default_storage)
            stale = [key for key, _, begun in listing if now - begun > older_than]
        else:
            stale = objectstore.abort_incomplete_uploads(default_storage, older_than)
        for key in stale:
            self.stdout.write(f"{'would abort' if dry_run else 'aborted'} multipart upload {key}")
        orphans = orphan_objects(older_than, now)
        for name in orphans:
            if not dry_run:
                objectstore.delete(default_storage, name)
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {name} (no row)")
        self.stdout.write(f"{len(stale)} multipart uploads, {len(orphans)} objects without a row")
