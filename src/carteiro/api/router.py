"""The API's router: a sync endpoint runs on a worker thread, its response is built on the loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool


def threaded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` as a coroutine that runs it in the threadpool.

    FastAPI would run a sync endpoint there itself, but then it validates the response in the
    threadpool too, before the request's transaction commits: with every thread taken by
    requests waiting on a lock that transaction holds, the commit would never come. Built on
    the event loop, the response needs no thread, and the commit (which has its own) follows.
    """

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    # Resolved here, in the endpoint's module: FastAPI reads parameters from the signature.
    run.__signature__ = inspect.signature(endpoint, eval_str=True)  # type: ignore[attr-defined]  # read by inspect
    return run


class Router(APIRouter):
    """An APIRouter whose sync endpoints are `threaded`; async ones are left as they are."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = threaded(endpoint)
        super().add_api_route(path, endpoint, **kwargs)
