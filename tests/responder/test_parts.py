"""The responder's parts: token bucket, error classes, percentiles, the LangChain adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from carteiro.agents.reply_model import LangChainReplyModel, reply_model
from carteiro.responder import budget
from carteiro.responder.model import ModelError, PromptMessage, classify
from carteiro.responder.stats import percentile
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.fake_llm import FakeReplyModel

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PROMPT = [PromptMessage("system", "regras"), PromptMessage("user", "x" * 400)]


def test_the_bucket_holds_a_minute_and_refills(runtime: Runtime, principal: Principal) -> None:
    def take(tokens: int, at: datetime) -> float:
        with runtime.db.session() as session:
            return budget.take(
                session,
                tenant_id=principal.tenant_id,
                provider="fake",
                tokens=tokens,
                per_minute=600,
                now=at,
            )

    assert take(500, T0) == 0.0
    # 100 left; 300 more come at 10 per second.
    assert take(300, T0) == pytest.approx(20.0)
    assert take(300, T0 + timedelta(seconds=20)) == 0.0
    # A request larger than the bucket waits for a full bucket, and is then granted.
    assert take(5000, T0 + timedelta(seconds=20)) == pytest.approx(60.0)
    assert take(5000, T0 + timedelta(seconds=80)) == 0.0
    with runtime.db.session() as session:
        budget.settle(session, tenant_id=principal.tenant_id, provider="fake", extra=120)
    assert take(1, T0 + timedelta(seconds=80)) == pytest.approx(12.1)
    with runtime.db.session() as session:
        assert (
            budget.take(
                session,
                tenant_id=principal.tenant_id,
                provider="x",
                tokens=10**9,
                per_minute=0,
                now=T0,
            )
            == 0.0
        )


def test_a_stale_clock_reading_does_not_refill_the_bucket_twice(
    runtime: Runtime, principal: Principal
) -> None:
    def take(tokens: int, seconds: float) -> float:
        with runtime.db.session() as session:
            return budget.take(
                session,
                tenant_id=principal.tenant_id,
                provider="clock",
                tokens=tokens,
                per_minute=600,
                now=T0 + timedelta(seconds=seconds),
            )

    assert take(600, 0) == 0.0
    assert take(600, 30) == pytest.approx(30.0)  # 300 in the bucket at 30 s
    # A worker read the clock at 10 s and got the row lock after the one at 30 s.
    assert take(1, 10) == 0.0
    # The 30 s of refill are counted once: 299 left, so 301 more take 30.1 s.
    assert take(600, 30) == pytest.approx(30.1)


class APIStatusError(Exception):
    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code


@pytest.mark.parametrize(
    ("exc", "kind", "retry_after"),
    [
        (TimeoutError(), "timeout", None),
        (
            APIStatusError("slow", httpx.Response(429, headers={"retry-after": "7"})),
            "rate_limit",
            7,
        ),
        (type("APITimeoutError", (Exception,), {})("t"), "timeout", None),
        (type("ContentFilterFinishReasonError", (Exception,), {})("no"), "refusal", None),
        (APIStatusError("bad", httpx.Response(400)), "bad_output", None),
        (APIStatusError("down", httpx.Response(503)), "provider_error", None),
        (RuntimeError("boom"), "provider_error", None),
    ],
)
def test_provider_errors_are_named(exc: Exception, kind: str, retry_after: float | None) -> None:
    error = classify(exc)
    assert error.kind == kind and error.retry_after == retry_after
    assert error.retryable == (kind != "refusal")


def test_percentiles_interpolate_like_postgresql() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10], 0.99) == 10
    values = list(range(1, 101))
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile(values, 0.99) == pytest.approx(99.01)


async def test_the_fake_model_scripts_errors_counts_tokens_and_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("carteiro.testing.fake_llm.asyncio.sleep", sleep)
    model = FakeReplyModel(latency=0.5, errors=["rate_limit", "timeout"], reply="abcd" * 10)
    with pytest.raises(ModelError) as first:
        await model.complete(PROMPT, max_tokens=100)
    with pytest.raises(ModelError) as second:
        await model.complete(PROMPT, max_tokens=100)
    done = await model.complete(PROMPT, max_tokens=5)
    assert (first.value.kind, second.value.kind) == ("rate_limit", "timeout")
    assert (done.text, done.input_tokens, done.output_tokens) == ("abcd" * 10, 102, 5)
    assert model.calls == 3 and model.tokens == 107 and slept == [0.5, 0.5, 0.5]


class FakeChat(GenericFakeChatModel):
    """LangChain's fake chat model; a scripted message may carry usage or a stop reason."""


async def test_a_langchain_chat_model_drafts_with_its_token_usage() -> None:
    answer = AIMessage(
        content="Olá!", usage_metadata={"input_tokens": 40, "output_tokens": 3, "total_tokens": 43}
    )
    model = LangChainReplyModel(FakeChat(messages=iter([answer])), "fake")
    done = await model.complete(PROMPT, max_tokens=50)
    assert (done.text, done.tokens) == ("Olá!", 43)


async def test_a_langchain_refusal_and_error_are_model_errors() -> None:
    refused = AIMessage(content="", response_metadata={"stop_reason": "refusal"})
    model = LangChainReplyModel(FakeChat(messages=iter([refused])), "fake")
    with pytest.raises(ModelError) as info:
        await model.complete(PROMPT, max_tokens=50)
    assert info.value.kind == "refusal"
    empty = LangChainReplyModel(FakeChat(messages=iter([])), "fake")
    with pytest.raises(ModelError) as info:
        await empty.complete(PROMPT, max_tokens=50)
    assert info.value.kind == "provider_error"


def fake_chat_factory(settings: Any) -> FakeChat:
    return FakeChat(messages=iter(["oi"]))


def test_the_configured_model_wraps_chat_models_and_keeps_reply_models(runtime: Runtime) -> None:
    s = runtime.settings
    assert reply_model(s) is None
    chat = reply_model(s.model_copy(update={"llm_provider": "test_parts:fake_chat_factory"}))
    assert isinstance(chat, LangChainReplyModel)
    fake = reply_model(s.model_copy(update={"llm_provider": "carteiro.testing.fake_llm:from_env"}))
    assert isinstance(fake, FakeReplyModel)
