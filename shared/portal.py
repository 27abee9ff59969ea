"""The partner portal as the stamp serves it: a request path to a file of the built SPA, and its config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.errors import ProblemError, not_found
from shared.settings import Settings

# The app's own folder: the deployment package's root, and the repository's locally.
APP_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIST = APP_ROOT / "portal" / "dist"

NO_CACHE = "no-cache"
# Vite names every file under assets/ by its content's hash: a changed file is a new name.
IMMUTABLE = "public, max-age=31536000, immutable"

# By extension, not the platform's mimetypes table (which differs between machines).
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
}
_UNKNOWN_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class PortalAnswer:
    """What the portal answers: a body with its media type and headers (CSP included)."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def authority_origin(authority_host: str) -> str:
    """`scheme://host[:port]` of ENTRA_AUTHORITY_HOST: where MSAL's sign-in pages and tokens come from."""
    parts = urlsplit(authority_host)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(authority_host: str) -> dict[str, str]:
    """The headers of every portal answer: a strict CSP (no inline script; Fluent's Griffel inserts
    style rules at run time, hence style-src 'unsafe-inline'), no sniffing, no referrer."""
    origin = authority_origin(authority_host)
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; "
        f"connect-src 'self' {origin}; frame-src {origin}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def portal_config(settings: Settings) -> dict[str, Any]:
    """`/config.json`: what MSAL in the portal needs, from the stamp's own settings."""
    host = settings.entra_authority_host.rstrip("/")
    return {
        "clientId": settings.portal_client_id,
        "authority": f"{host}/organizations",
        "knownAuthorities": [urlsplit(host).netloc],
        "scopes": [f"{settings.entra_audience}/access_as_user"],
    }


def not_built() -> ProblemError:
    return ProblemError(
        503,
        "portal-not-built",
        "The portal is not built.",
        "The stamp has no built portal (index.html) to serve: run `make portal` before deploying.",
    )


def _no_such_page() -> ProblemError:
    return not_found("No such page of the portal.")


class Portal:
    """The built portal in `dist`: a file of it, else index.html (the SPA's own client-side routes)."""

    def __init__(self, dist: Path, authority_host: str):
        self.dist = dist
        self.headers = security_headers(authority_host)

    @classmethod
    def from_settings(cls, settings: Settings) -> Portal:
        dist = Path(settings.portal_dist) if settings.portal_dist else DEFAULT_DIST
        return cls(dist, settings.entra_authority_host)

    def config(self, settings: Settings) -> PortalAnswer:
        body = json.dumps(portal_config(settings)).encode()
        return PortalAnswer(200, body, "application/json", {**self.headers, "Cache-Control": NO_CACHE})

    def answer(self, raw_path: str) -> PortalAnswer:
        """The file for `raw_path` (the URL's path as sent, still percent-encoded).

        Raises ProblemError: 404 for a path that could name something outside the folder (a `..`
        or `.` segment, an encoded slash or backslash, a NUL, a dot file, a symlink leading out)
        or a missing hashed asset; 503 when the portal is not built.
        """
        segments = self._segments(raw_path)
        root = self.dist.resolve()
        index = root / "index.html"
        if not index.is_file():
            raise not_built()
        if segments:
            candidate = root.joinpath(*segments).resolve()
            if not candidate.is_relative_to(root):
                raise _no_such_page()  # a symlink that leads out of the folder
            if candidate.is_file():
                return self._file(candidate, immutable=segments[0] == "assets")
            if segments[0] == "assets":
                # A hashed file of another build: index.html in its place would fail as a script.
                raise _no_such_page()
        # Directories are never listed: anything that is not a file is the SPA's own route.
        return self._file(index, immutable=False)

    @staticmethod
    def _segments(raw_path: str) -> list[str]:
        lowered = raw_path.lower()
        # An encoded slash or backslash would join two segments after decoding: never a path of ours.
        if "%2f" in lowered or "%5c" in lowered or "%00" in lowered:
            raise _no_such_page()
        try:
            decoded = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            raise _no_such_page() from None
        if "\\" in decoded or "\x00" in decoded:
            raise _no_such_page()
        segments = [segment for segment in decoded.split("/") if segment]
        # `.`/`..` and dot files (.env, .git): no file of a Vite build starts with a dot.
        if any(segment.startswith(".") for segment in segments):
            raise _no_such_page()
        # /_dev/ is the local stand-ins' (the dev issuer's), as /api/ is the API's: never a page.
        if segments and segments[0].lower() in {"api", "_dev"}:
            raise _no_such_page()
        return segments

    def _file(self, path: Path, *, immutable: bool) -> PortalAnswer:
        media_type = _MEDIA_TYPES.get(path.suffix.lower(), _UNKNOWN_MEDIA_TYPE)
        cache = IMMUTABLE if immutable else NO_CACHE
        return PortalAnswer(200, path.read_bytes(), media_type, {**self.headers, "Cache-Control": cache})
