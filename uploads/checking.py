"""The upload-check executor: verifying an upload's content and removing its private metadata
(`services.check_content`: a full image decode, ExifTool) takes up to seconds of CPU, so the upload view runs it on
threads of its own, apart from the request threads (`lebrq.http.executor`), as invoice renders are
(`bookings.invoicing.limits.render_threads`): fast reads never queue behind it, and no database connection is held
while it runs (check threads open none; the upload's request thread is given back meanwhile).
"""

import threading

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from lebrq.exceptions import UploadChecksBusy
from lebrq.http.executor import RequestThreads, RequestThreadTimeout

from .services import check_content

_guard = threading.Lock()
_check_threads: dict[tuple[int, float], RequestThreads] = {}


def check_threads() -> RequestThreads:
    """The process's upload-check executor: settings.UPLOAD_CHECK_THREADS long-lived threads (no database
    connection); a check waits at most settings.DB_POOL_TIMEOUT seconds for one, as a request does for a request
    thread."""
    key = (settings.UPLOAD_CHECK_THREADS, settings.DB_POOL_TIMEOUT)
    with _guard:
        if key not in _check_threads:
            _check_threads[key] = RequestThreads(*key, name="lebrq-check")
        return _check_threads[key]


async def check_in_executor(uploaded: UploadedFile, mime: str) -> None:
    """`services.check_content` (``uploaded``'s temporary file verified as ``mime``, then scrubbed in place) on
    `check_threads()`, awaited from the event loop. Raises what it raises, and `UploadChecksBusy` (Retry-After:
    settings.UPLOAD_RETRY_AFTER seconds) when no check thread came free within settings.DB_POOL_TIMEOUT seconds.
    If the caller is cancelled (client gone) while the check runs, it returns only once the check has ended, so
    the temporary file can then be removed safely."""
    try:
        await check_threads().run(check_content, uploaded, mime, outlive_cancel=True)
    except RequestThreadTimeout:
        raise UploadChecksBusy(settings.UPLOAD_RETRY_AFTER) from None
