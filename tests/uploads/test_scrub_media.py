"""``manage.py scrub_media``: files stored before metadata removal are scrubbed, rows updated, reruns resume."""

import hashlib
import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from uploads import scrub
from uploads.models import Upload

pytestmark = pytest.mark.django_db


def store_as_before(settings, shared_media, name: str, content_type: str, kind: str) -> Upload:
    """An upload stored byte-identical, as before metadata removal existed."""
    source = shared_media / name
    target = Path(settings.MEDIA_ROOT) / f"{kind}s" / f"{hashlib.md5(name.encode()).hexdigest()}{source.suffix}"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)
    return Upload.objects.create(
        kind=kind,
        name=str(target.relative_to(settings.MEDIA_ROOT)),
        original_name=name,
        size=source.stat().st_size,
        content_type=content_type,
        sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
    )


def run(*args) -> str:
    out = io.StringIO()
    call_command("scrub_media", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_dry_run_lists_then_run_scrubs_and_updates_rows_then_rerun_finds_nothing(settings, shared_media):
    photo = store_as_before(settings, shared_media, "camera-with-gps.jpg", "image/jpeg", "image")
    video = store_as_before(settings, shared_media, "venue-tour.mp4", "video/mp4", "video")
    path = Path(settings.MEDIA_ROOT) / photo.name
    original = path.read_bytes()

    dry = run("--dry-run")
    assert f"would scrub {photo.pk} {photo.name}: " in dry and "GPS:GPSLatitude" in dry
    assert dry.endswith(f"Would scrub 1 file(s); 1 already clean; 0 failed; last upload id {video.pk}.\n")
    assert path.read_bytes() == original

    done = run()
    assert f"scrubbed {photo.pk} {photo.name}: " in done
    assert done.endswith(f"Scrubbed 1 file(s); 1 already clean; 0 failed; last upload id {video.pk}.\n")
    photo.refresh_from_db()
    stored = path.read_bytes()
    assert photo.size == len(stored) == 154128
    assert photo.sha256 == hashlib.sha256(stored).hexdigest()
    assert scrub.private_metadata(path, "image/jpeg") == []
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no work file left

    assert run().endswith(f"Scrubbed 0 file(s); 2 already clean; 0 failed; last upload id {video.pk}.\n")


def test_after_id_resumes_past_done_uploads(settings, shared_media):
    first = store_as_before(settings, shared_media, "camera-with-gps.jpg", "image/jpeg", "image")
    second = store_as_before(settings, shared_media, "iphone-photo.heic", "image/heic", "image")
    output = run("--after-id", str(first.pk))
    assert f"scrubbed {second.pk} " in output
    assert [line for line in output.splitlines() if line.startswith(f"scrubbed {first.pk} ")] == []
    first.refresh_from_db()
    assert first.size == (shared_media / "camera-with-gps.jpg").stat().st_size  # untouched


def test_missing_file_is_reported_and_the_run_goes_on(settings, shared_media):
    gone = store_as_before(settings, shared_media, "camera-with-gps.jpg", "image/jpeg", "image")
    (Path(settings.MEDIA_ROOT) / gone.name).unlink()
    output = run()
    assert output.startswith(f"failed {gone.pk} {gone.name}: ")
    assert output.endswith(f"Scrubbed 0 file(s); 0 already clean; 1 failed; last upload id {gone.pk}.\n")
