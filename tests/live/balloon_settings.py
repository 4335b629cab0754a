"""Test-only settings: the project's, with `tests.live.balloon_urls` as the URLconf (it adds a view that inflates
the worker's own memory). Used by tests/live/test_memory_live.py through ``DJANGO_SETTINGS_MODULE``; production
code has no such endpoint."""

from lebrq.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live.balloon_urls"
