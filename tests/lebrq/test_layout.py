"""The code's layout rules, checked on the source: module size, dependency direction, the upload kinds listed once."""

import ast
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from lebrq.http.guards import UploadLimitGuard
from lebrq.upload_kinds import UPLOAD_KINDS, UPLOAD_PATH
from uploads import names, sniffing
from uploads.models import Upload

ROOT = Path(__file__).resolve().parents[2]
APPS = ("bookings", "uploads", "health")
SOURCES = sorted(
    path for top in ("lebrq", *APPS) for path in (ROOT / top).rglob("*.py") if "migrations" not in path.parts
)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p.relative_to(ROOT).parts[0] == "lebrq"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_project_code_does_not_import_the_apps(path):
    assert not {name for name in imported_modules(path) if name.split(".")[0] in APPS}


@pytest.mark.parametrize("path", [ROOT / "bookings" / "admin.py", *sorted((ROOT / "bookings").glob("serv*.py"))])
def test_the_admin_and_services_do_not_reach_for_views_or_drf(path):
    modules = imported_modules(path)
    assert "bookings.views" not in modules
    if path.name == "services.py":
        assert not {name for name in modules if name.startswith("rest_framework")}


def is_drf(name: str) -> bool:
    """DRF itself (``rest_framework``), not simplejwt's token models that the account services keep."""
    return name == "rest_framework" or name.startswith("rest_framework.")


def test_domain_code_raises_no_drf_exceptions():
    for path in (ROOT / "bookings" / "services.py", ROOT / "uploads" / "services.py", ROOT / "uploads" / "handlers.py"):
        assert not {name for name in imported_modules(path) if name.startswith("rest_framework")}, path
    assert not {name for name in imported_modules(ROOT / "accounts" / "services.py") if is_drf(name)}
    for path in (ROOT / "bookings" / "invoicing").glob("*.py"):
        assert not {name for name in imported_modules(path) if name.startswith("rest_framework")}, path


def test_the_upload_kinds_are_read_from_one_list(settings):
    assert UPLOAD_KINDS == ("image", "video", "document")
    assert tuple(settings.UPLOAD_MAX_BYTES) == UPLOAD_KINDS
    assert tuple(Upload.Kind.values) == UPLOAD_KINDS
    assert tuple(sniffing.ACCEPTED) == UPLOAD_KINDS
    assert [names.storage_name(kind, "bin").split("/")[0] for kind in UPLOAD_KINDS] == ["images", "videos", "documents"]
    for kind in UPLOAD_KINDS:
        match = resolve(f"/api/uploads/{kind}")
        assert (match.url_name, match.func.view_initkwargs) == (f"upload-{kind}", {"kind": kind})
        assert UPLOAD_PATH.match(f"/api/uploads/{kind}")["kind"] == kind
    with pytest.raises(Resolver404):  # not a kind, nor a stored file's name (which has a folder)
        resolve("/api/uploads/audio")
    assert UPLOAD_PATH.match("/api/uploads/audio") is None
    assert UploadLimitGuard(None, settings.UPLOAD_MAX_BYTES).limits.keys() == set(UPLOAD_KINDS)
