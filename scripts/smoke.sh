#!/usr/bin/env bash
# `make smoke`: the seed guide's Verification section, with curl, against a running server (`make run`).
# BASE_URL (default http://127.0.0.1:8000) and LEBRQ_SHARED_MEDIA (the sample media, default ../shared/media
# beside the checkout) can be overridden.
# Prints each step; exits non-zero on the first failure.
set -euo pipefail

BASE_URL=${BASE_URL:-http://127.0.0.1:8000}
MEDIA_DIR=${LEBRQ_SHARED_MEDIA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/media}
USERNAME=${SMOKE_USERNAME:-customer}
PASSWORD=${SMOKE_PASSWORD:-lebrq-customer}
PY=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
json() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step "health: GET /health"
curl -fsS "$BASE_URL/health" | tee "$work/health" ; echo
grep -q '"ok"' "$work/health" || fail "/health is not ok"

step "log in as $USERNAME"
token=$(curl -fsS -H 'Content-Type: application/json' \
  -d "{\"username\": \"$USERNAME\", \"password\": \"$PASSWORD\"}" "$BASE_URL/api/auth/login" | json '["access_token"]')
[ -n "$token" ] || fail "no access token"
auth=(-H "Authorization: Bearer $token")
echo "token: ${token:0:16}…"

step "upload phone-photo.jpg as an image"
curl -fsS "${auth[@]}" -F "file=@$MEDIA_DIR/phone-photo.jpg" "$BASE_URL/api/uploads/image" | tee "$work/photo"; echo
[ "$(json '["content_type"]' <"$work/photo")" = image/jpeg ] || fail "photo not stored as image/jpeg"

step "upload venue-tour.mp4 as a video"
curl -fsS "${auth[@]}" -F "file=@$MEDIA_DIR/venue-tour.mp4" "$BASE_URL/api/uploads/video" | tee "$work/video"; echo
video_url=$BASE_URL$(json '["url"]' <"$work/video")

step "range request on the video: curl -I -H 'Range: bytes=0-1048575' (GET)"
curl -fsS -o /dev/null -D "$work/headers" -H "Range: bytes=0-1048575" "$video_url"
cat "$work/headers"
head -1 "$work/headers" | grep -q " 206" || fail "expected 206 Partial Content"
grep -qi '^content-range: bytes 0-1048575/' "$work/headers" || fail "no Content-Range"
grep -qi '^accept-ranges: bytes' "$work/headers" || fail "no Accept-Ranges"
grep -qi '^etag: "' "$work/headers" || fail "no ETag"

step "download the demo booking's invoice"
bookings=$(curl -fsS "${auth[@]}" "$BASE_URL/api/bookings?page_size=100")
read -r booking_id reference total < <(echo "$bookings" | "$PY" -c '
import json, sys
items = json.load(sys.stdin)["items"]
b = next(b for b in items if b["booking_reference"] == "BK-00000DE001")
print(b["id"], b["booking_reference"], b["total_amount"])')
curl -fsS "${auth[@]}" -o "$work/invoice.pdf" -D "$work/invoice-headers" "$BASE_URL/api/bookings/$booking_id/invoice"
grep -i '^content-type' "$work/invoice-headers"
head -c 5 "$work/invoice.pdf" | grep -q '%PDF-' || fail "invoice is not a PDF"
"$PY" - "$work/invoice.pdf" "$reference" "$total" <<'PYEOF' || fail "invoice text does not name the booking and its total"
import sys
from decimal import Decimal
from pypdf import PdfReader
path, reference, total = sys.argv[1:]
text = "".join(page.extract_text() for page in PdfReader(path).pages)
taxable = Decimal(total)
def indian(d):
    whole, paise = f"{d:.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:]); head = head[:-2]
    return ",".join(([head] if head else []) + groups + [tail]) + "." + paise
print(f"invoice names {reference}: {reference in text}; taxable value {indian(taxable)}: {indian(taxable) in text}")
sys.exit(0 if reference in text and indian(taxable) in text else 1)
PYEOF

step "memory report: GET /api/health/memory"
curl -fsS "$BASE_URL/api/health/memory" | tee "$work/memory"; echo
for key in total_gb available_gb used_percent used_gb threshold_percent status; do
  grep -q "\"$key\"" "$work/memory" || fail "memory report lacks $key"
done

printf '\nsmoke: all steps passed\n'
