"""Browser fixtures for the apps tests that look at the centre display."""

from tests.support.browser import browser, new_page  # noqa: F401
