"""Content negotiation for file downloads: the representation is the file, whatever the client's ``Accept`` says.

RFC 9110 §12.5.1: a server may disregard ``Accept`` and send a representation the client did not list, rather
than answer 406. DRF's default negotiation answers 406 when no renderer matches ``Accept`` (``Accept: image/png``
on a JPEG, ``Accept: application/pdf`` on an invoice); for views that stream a stored file that is wrong, so
they use `IgnoreClientContentNegotiation`, and their JSON errors are rendered with the first renderer.
"""

from rest_framework.negotiation import BaseContentNegotiation


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """Pick the view's first parser and renderer, never raise `NotAcceptable` (the shape of DRF's documented
    custom-negotiation example)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
