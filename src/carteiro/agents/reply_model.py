"""Any LangChain chat model as the responder's ReplyModel (tokens from its usage metadata)."""

from __future__ import annotations

from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from carteiro.agents.chat import chat_model, factory
from carteiro.config import Settings
from carteiro.responder.model import Completion, ModelError, PromptMessage, ReplyModel, classify

# Providers whose chat models take max_tokens on each call.
MAX_TOKENS = ("anthropic", "openai")
REFUSALS = ("refusal", "content_filter", "safety")


class LangChainReplyModel:
    """Drafts with a chat model; a refusal or an empty answer is a ModelError."""

    def __init__(self, llm: BaseChatModel, provider: str) -> None:
        self.llm = llm
        self._provider = provider

    @property
    def provider(self) -> str:
        return self._provider

    async def complete(self, messages: list[PromptMessage], *, max_tokens: int) -> Completion:
        prompt: list[BaseMessage] = [
            SystemMessage(m.text) if m.role == "system" else HumanMessage(m.text) for m in messages
        ]
        options: dict[str, Any] = {"max_tokens": max_tokens} if self.provider in MAX_TOKENS else {}
        try:
            response = await self.llm.ainvoke(prompt, **options)
        except Exception as exc:
            raise classify(exc) from exc
        assert isinstance(response, AIMessage)
        metadata = response.response_metadata or {}
        reason = str(metadata.get("stop_reason") or metadata.get("finish_reason") or "")
        if reason.lower() in REFUSALS:
            raise ModelError("refusal", f"the model declined to answer ({reason})")
        text = response.text
        usage = response.usage_metadata
        chars = sum(len(m.text) for m in messages)
        return Completion(
            text=text,
            input_tokens=usage["input_tokens"] if usage else chars // 4 + 1,
            output_tokens=usage["output_tokens"] if usage else len(text) // 4 + 1,
        )


def reply_model(settings: Settings) -> ReplyModel | None:
    """The configured model as a ReplyModel; a `module:function` factory may return either a
    chat model or a ReplyModel of its own."""
    provider = (settings.llm_provider or "").strip()
    if not provider:
        return None
    if ":" in provider:
        made: object = factory(provider)(settings)
        if isinstance(made, BaseChatModel):
            return LangChainReplyModel(made, settings.llm_model or provider)
        return cast(ReplyModel, made)
    llm = chat_model(settings)
    assert llm is not None
    return LangChainReplyModel(llm, provider)
