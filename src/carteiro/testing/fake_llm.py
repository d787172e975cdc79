"""A fake reply model for tests and benchmarks: latency, scripted errors, token counts."""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import Iterable

from carteiro.config import Settings
from carteiro.responder import classify
from carteiro.responder.model import Completion, ErrorType, ModelError, PromptMessage


class FakeReplyModel:
    """Answers every prompt after `latency` seconds with `reply`; the first calls raise the
    scripted errors in order. Tokens: about four characters each, as providers count them."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        errors: Iterable[ErrorType] = (),
        reply: str = "Olá! Obrigado pela mensagem; respondemos em breve.",
        provider: str = "fake",
        retry_after: float | None = None,
        classification: dict[str, str] | None = None,
    ) -> None:
        self.latency = latency
        self.errors: deque[ErrorType] = deque(errors)
        self.reply = reply
        self._provider = provider
        self.retry_after = retry_after
        # The answer to a classification prompt (JSON); None answers it with `reply`.
        self.classification = classification
        self.calls = 0
        self.prompts: list[list[PromptMessage]] = []
        self.tokens = 0

    @property
    def provider(self) -> str:
        return self._provider

    async def complete(self, messages: list[PromptMessage], *, max_tokens: int) -> Completion:
        self.calls += 1
        self.prompts.append(list(messages))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.errors:
            kind = self.errors.popleft()
            retry = self.retry_after if kind == "rate_limit" else None
            raise ModelError(kind, f"scripted {kind}", retry_after=retry)
        text = self.reply
        if self.classification is not None and messages[0].text == classify.SYSTEM:
            text = json.dumps(self.classification)
        completion = Completion(
            text=text,
            input_tokens=sum(len(m.text) for m in messages) // 4 + 1,
            output_tokens=min(max_tokens, len(text) // 4 + 1),
        )
        self.tokens += completion.tokens
        return completion


def from_env(settings: Settings) -> FakeReplyModel:
    """CARTEIRO_LLM_PROVIDER=carteiro.testing.fake_llm:from_env, for real worker processes:
    CARTEIRO_FAKE_LLM_LATENCY (seconds), CARTEIRO_FAKE_LLM_ERRORS (kinds, comma-separated)."""
    errors = [e for e in os.environ.get("CARTEIRO_FAKE_LLM_ERRORS", "").split(",") if e]
    return FakeReplyModel(
        latency=float(os.environ.get("CARTEIRO_FAKE_LLM_LATENCY", "0")),
        errors=errors,  # type: ignore[arg-type]
        provider=settings.llm_model or "fake",
    )
