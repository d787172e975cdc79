"""Shown-once values across POST/redirect/GET: an encrypted, short-lived cookie read once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from fastapi import Request, Response

from carteiro.errors import CarteiroError
from carteiro.runtime import Runtime
from carteiro.web.pages.auth import secure_cookies

COOKIE = "carteiro_once"
# Long enough for the redirect to be followed, short enough that a forgotten one is useless.
MAX_AGE_SECONDS = 120


@dataclass(frozen=True)
class Once:
    """What a create form hands to the page after its redirect (`value`: the secret, if any)."""

    kind: str
    target_id: int
    user_id: int
    value: str | None


def keep(response: Response, rt: Runtime, once: Once, *, path: str) -> None:
    """Puts `once` in a cookie sent only to `path` (the page that shows it), sealed with the
    server's key: the browser holds it for a redirect, never readable by scripts."""
    payload = {
        "kind": once.kind,
        "id": once.target_id,
        "user": once.user_id,
        "value": once.value,
        "at": int(time.time()),
    }
    response.set_cookie(
        COOKIE,
        rt.vault.encrypt(json.dumps(payload)),
        max_age=MAX_AGE_SECONDS,
        path=path,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(rt.settings),
    )


def take(request: Request, rt: Runtime, *, kind: str, target_id: int, user_id: int) -> Once | None:
    """The value kept for this page and person, or None (already shown, expired, another's).
    The page's response must `forget` it, so that a reload does not show it again."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        payload = json.loads(rt.vault.decrypt(raw))
    except (CarteiroError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    fresh = int(time.time()) - int(payload.get("at", 0)) <= MAX_AGE_SECONDS
    mine = (payload.get("kind"), payload.get("id"), payload.get("user")) == (
        kind,
        target_id,
        user_id,
    )
    if not (fresh and mine):
        return None
    value = payload.get("value")
    return Once(kind, target_id, user_id, value if isinstance(value, str) else None)


def forget(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=request.url.path, httponly=True, samesite="strict")
