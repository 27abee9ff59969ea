"""One pooled HTTP client for the tests' calls to the local host and stand-ins.

`httpx.get(...)` builds a client, with its TLS context, for every call: in the tests that walk
every route, the test process spent more time building clients than the app spent answering.
This client behaves as those calls did (httpx's default timeout, no redirects followed) and
keeps no cookies, so no call carries what an earlier one was given.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie, request) -> bool:  # type: ignore[no-untyped-def]
        return False


web = httpx.Client(cookies=CookieJar(policy=_NoCookies()), timeout=httpx.Timeout(5.0))
