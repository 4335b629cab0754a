"""Metadata removal with ExifTool: GPS, serial numbers and maker notes gone; orientation, ICC profile and pixels
(or streams) kept."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import pyvips

from uploads import scrub


def tags(path: Path, *names: str) -> dict:
    """ExifTool's tags of ``path`` (family-1 group:name → value), all of them or only ``names``."""
    output = subprocess.run(
        ["exiftool", "-json", "-G1", "-a", "-n", *(f"-{name}" for name in names), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    record = json.loads(output)[0]
    record.pop("SourceFile")
    return record


def pixels(path: Path) -> str:
    """SHA-256 of the decoded pixels, as stored (no autorotation)."""
    return hashlib.sha256(pyvips.Image.new_from_file(str(path), autorotate=False).write_to_memory()).hexdigest()


def exiftool_write(path: Path, *arguments: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *arguments, str(path)], check=True)


@pytest.fixture
def copy(shared_media, tmp_path):
    def make(name: str, as_name: str | None = None) -> Path:
        target = tmp_path / (as_name or name)
        shutil.copyfile(shared_media / name, target)
        return target

    return make


def test_camera_jpeg_loses_gps_and_maker_notes_keeps_pixels(copy):
    photo = copy("camera-with-gps.jpg")
    before = tags(photo)
    assert before["GPS:GPSLatitude"] == pytest.approx(43.467447, abs=1e-5)
    assert "Nikon:MakerNoteVersion" in before
    original_pixels = pixels(photo)

    result = scrub.scrub_file(photo, "image/jpeg")

    after = tags(photo)
    assert result == scrub.ScrubResult(
        changed=True, size=photo.stat().st_size, sha256=hashlib.sha256(photo.read_bytes()).hexdigest()
    )
    assert [tag for tag in after if tag.startswith(("GPS:", "Nikon:", "Composite:GPS"))] == []
    assert after["IFD0:Orientation"] == 1
    assert (after["IFD0:Make"], after["IFD0:Model"]) == ("NIKON", "COOLPIX P6000")  # kept (README)
    assert after["ExifIFD:DateTimeOriginal"] == before["ExifIFD:DateTimeOriginal"]
    assert pixels(photo) == original_pixels
    assert scrub.private_metadata(photo, "image/jpeg") == []


def test_jpeg_serial_owner_xmp_location_go_orientation_and_icc_stay(copy, tmp_path):
    icc = tmp_path / "profile.icc"
    icc.write_bytes(
        subprocess.run(
            ["exiftool", "-b", "-icc_profile", str(copy("iphone-photo.heic"))], capture_output=True, check=True
        ).stdout
    )
    photo = copy("phone-photo.jpg")
    exiftool_write(
        photo,
        "-Orientation#=6",
        f"-icc_profile<={icc}",
        "-SerialNumber=SN-123456",
        "-LensSerialNumber=LS-9",
        "-OwnerName=Asha",
        "-XMP-iptcCore:Location=Home",
        "-XMP-photoshop:City=Kochi",
        "-IPTC:City=Kochi",
    )
    original_pixels = pixels(photo)
    assert scrub.private_metadata(photo, "image/jpeg")  # GPS, serials, owner, location

    assert scrub.scrub_file(photo, "image/jpeg").changed

    after = tags(photo)
    assert [tag for tag in after if "Serial" in tag or "Owner" in tag or "City" in tag or "Location" in tag] == []
    assert [tag for tag in after if tag.startswith(("GPS:", "XMP", "IPTC:"))] == []
    assert after["IFD0:Orientation"] == 6
    assert after["ICC-header:ProfileCMMType"] == "appl"
    assert pixels(photo) == original_pixels


def test_heic_loses_maker_notes_keeps_orientation_icc_and_pixels(copy):
    photo = copy("iphone-photo.heic")
    assert "Apple:MakerNoteVersion" in tags(photo)
    original_pixels = pixels(photo)

    assert scrub.scrub_file(photo, "image/heic").changed

    after = tags(photo)
    assert [tag for tag in after if tag.startswith(("Apple:", "GPS:"))] == []
    assert after["IFD0:Orientation"] == 6  # "Rotate 90 CW"
    assert "ICC_Profile:ProfileDescription" in after
    assert pixels(photo) == original_pixels


def test_mp4_loses_quicktime_location_keeps_the_streams(copy):
    video = copy("venue-tour.mp4")
    exiftool_write(
        video, "-Keys:GPSCoordinates=9.93, 76.26, 5", "-UserData:GPSCoordinates=9.93, 76.26", "-XMP:City=Kochi"
    )
    assert {"Keys:GPSCoordinates", "UserData:GPSCoordinates"} <= set(tags(video))
    mdat_before = tags(video, "MediaDataSize")["QuickTime:MediaDataSize"]

    assert scrub.scrub_file(video, "video/mp4").changed

    after = tags(video)
    assert [tag for tag in after if "GPS" in tag or "City" in tag] == []
    assert after["QuickTime:MediaDataSize"] == mdat_before
    assert (after["Track1:ImageWidth"], after["Track1:ImageHeight"]) == (1280, 720)


def test_mp4_loses_every_location_group_tag(copy):
    """Tags of the Location group outside GPS and XMP: found by reading, deleted by name."""
    video = copy("venue-tour.mp4")
    exiftool_write(
        video, "-Keys:LocationName=Kochi Home", "-Keys:LocationBody=Earth", "-UserData:LocationInformation=Kochi"
    )
    assert scrub.private_metadata(video, "video/mp4") == [
        "Composite:GPSAltitude", "Composite:GPSAltitudeRef", "Composite:GPSLatitude", "Composite:GPSLongitude",
        "Composite:GPSPosition", "Keys:LocationBody", "Keys:LocationName", "UserData:LocationInformation",
    ]  # fmt: skip

    assert scrub.scrub_file(video, "video/mp4").changed

    assert [tag for tag in tags(video) if "Location" in tag or "GPS" in tag] == []
    assert scrub.private_metadata(video, "video/mp4") == []


def test_clean_file_is_left_unchanged(copy):
    video = copy("venue-tour.mp4")
    before = video.read_bytes()
    assert scrub.scrub_file(video, "video/mp4") == scrub.ScrubResult(changed=False)
    assert video.read_bytes() == before


def test_wrong_client_extension_is_handled_through_a_typed_link(copy):
    photo = copy("camera-with-gps.jpg", as_name="tmpabcdefgh.upload.exe")
    assert scrub.scrub_file(photo, "image/jpeg").changed
    assert "GPS:GPSLatitude" not in tags(photo)
    assert sorted(p.name for p in photo.parent.glob("tmpabcdefgh*")) == ["tmpabcdefgh.upload.exe"]  # link gone


def test_webm_is_read_only_and_refused_when_it_carries_location(copy, monkeypatch):
    video = copy("venue-tour.webm")
    assert scrub.scrub_file(video, "video/webm") == scrub.ScrubResult(changed=False)
    monkeypatch.setattr(scrub, "private_metadata", lambda path, mime: ["Matroska:GPSCoordinates"])
    with pytest.raises(scrub.MetadataNotRemovable) as refused:
        scrub.scrub_file(video, "video/webm")
    assert str(refused.value) == (
        "The file carries private metadata (Matroska:GPSCoordinates) that cannot be removed from video/webm."
    )


def test_exiftool_failure_is_metadata_not_removable(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(scrub.MetadataNotRemovable) as refused:
        scrub.scrub_file(fake, "image/jpeg")
    assert str(refused.value).startswith("The file's metadata cannot be rewritten: ")
