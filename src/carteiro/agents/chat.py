"""The chat model named by configuration (CARTEIRO_LLM_*), built through LangChain."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, cast

from langchain_core.language_models import BaseChatModel

from carteiro.config import Settings
from carteiro.errors import InvalidInput

# Provider package and class when `langchain` (and its init_chat_model) is not installed.
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "carteiro[anthropic]"),
    "openai": ("langchain_openai", "ChatOpenAI", "carteiro[openai]"),
    "ollama": ("langchain_ollama", "ChatOllama", "carteiro[ollama]"),
}


def factory(path: str) -> Callable[[Settings], object]:
    module_name, _, attr = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"CARTEIRO_LLM_PROVIDER={path}: cannot load it ({exc})", field="llm_provider"
        ) from None
    return cast(Callable[[Settings], object], found)


def _options(provider: str, settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"timeout": settings.llm_timeout_seconds}
    if settings.llm_api_key:
        options["api_key"] = settings.llm_api_key
    if settings.llm_base_url:
        options["base_url"] = settings.llm_base_url
    if provider == "ollama":
        # ChatOllama takes no timeout or key of its own.
        options.pop("timeout")
        options.pop("api_key", None)
    return options


def chat_model(settings: Settings) -> BaseChatModel | None:
    """The configured chat model, or None when CARTEIRO_LLM_PROVIDER is empty.

    `module:function` names a factory `function(settings) -> BaseChatModel` (a model LangChain
    does not know, or a fake for tests). Otherwise `langchain.chat_models.init_chat_model`
    builds it when `langchain` is installed, else the provider's own package."""
    provider = (settings.llm_provider or "").strip()
    if not provider:
        return None
    if ":" in provider:
        made = factory(provider)(settings)
        if not isinstance(made, BaseChatModel):
            raise InvalidInput(
                f"CARTEIRO_LLM_PROVIDER={provider} does not make a LangChain chat model",
                field="llm_provider",
            )
        return made
    model = (settings.llm_model or "").strip()
    if not model:
        raise InvalidInput(
            f"CARTEIRO_LLM_MODEL is empty: name a {provider} model", field="llm_model"
        )
    options = _options(provider, settings)
    try:
        init = importlib.import_module("langchain.chat_models").init_chat_model
    except ImportError:
        init = None
    if init is not None:
        try:
            return cast(BaseChatModel, init(model, model_provider=provider, **options))
        except ImportError:
            # init_chat_model knows the provider, but its package is not installed.
            extra = PROVIDERS[provider][2] if provider in PROVIDERS else f"langchain-{provider}"
            raise InvalidInput(
                f"CARTEIRO_LLM_PROVIDER={provider} needs its package: pip install '{extra}'",
                field="llm_provider",
            ) from None
        except ValueError as exc:  # a provider init_chat_model does not know
            raise InvalidInput(
                f"CARTEIRO_LLM_PROVIDER={provider}: {exc}", field="llm_provider"
            ) from None
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"CARTEIRO_LLM_PROVIDER={provider}: install `langchain` for other providers, or "
            f"use one of {', '.join(PROVIDERS)}",
            field="llm_provider",
        )
    module_name, class_name, extra = PROVIDERS[provider]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError:
        raise InvalidInput(
            f"CARTEIRO_LLM_PROVIDER={provider} needs its package: pip install '{extra}'",
            field="llm_provider",
        ) from None
    return cast(BaseChatModel, cls(model=model, **options))
