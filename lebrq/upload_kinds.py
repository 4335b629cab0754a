"""The upload kinds, listed once: ``POST /api/uploads/<kind>`` for each.

Read by the settings (``UPLOAD_MAX_BYTES``, one ``UPLOAD_MAX_<KIND>_BYTES`` each), the URL route and the ASGI
guards (`UPLOAD_PATH`), the `Upload` model's choices, type sniffing (`uploads.sniffing.ACCEPTED`), the storage
directories (`uploads.names`) and the nginx site (deploy/nginx/render.py). No imports: settings read it.
"""

import re

#: The kinds, in the order they are documented.
UPLOAD_KINDS = ("image", "video", "document")
#: The regular expression alternation of the kinds, ``image|video|document``.
KIND_ALTERNATION = "|".join(UPLOAD_KINDS)
#: The upload endpoint's path (as ASGI gives it, with the leading slash); group ``kind``.
UPLOAD_PATH = re.compile(rf"^/api/uploads/(?P<kind>{KIND_ALTERNATION})/?$")
