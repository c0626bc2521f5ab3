"""Choose and build the model from the settings (docs/api.md); the only importer of the SDK adapters.

`make_agent_model` is what the loop uses: the scripted model, or `LLMAgentModel` over the chat model of
the configured provider. The SDK adapter modules are imported inside the functions, so importing this
module costs nothing; the provider's SDK is paid for by the first call only.

Provider choice: LLM_PROVIDER when set; otherwise the first of openai, anthropic, gemini that has a key
(or a key parameter); otherwise scripted. An explicit provider without a key is an `auth` ModelError,
except openai with OPENAI_BASE_URL (a local compatible server often needs no key).
"""

from __future__ import annotations

from pydantic import SecretStr

from riadex.adapters.aws_parameters import resolve_secret
from riadex.application.agent_model import AgentModel
from riadex.application.llm import ChatModel, ModelError
from riadex.application.llm_agent import LLMAgentModel
from riadex.config import Settings

DEFAULT_MODELS = {
    "openai": "gpt-5-mini",
    "gemini": "gemini-2.5-flash",
    "anthropic": "claude-sonnet-4-5",
    "scripted": "scripted",
}
_KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_PLACEHOLDER_KEY = "not-needed"


def _key_settings(settings: Settings, provider: str) -> tuple[SecretStr | None, str | None]:
    if provider == "openai":
        return settings.openai_api_key, settings.openai_api_key_param
    if provider == "gemini":
        return settings.gemini_api_key, settings.gemini_api_key_param
    return settings.anthropic_api_key, settings.anthropic_api_key_param


def resolve_provider(settings: Settings) -> str:
    if settings.llm_provider:
        return settings.llm_provider
    for provider in ("openai", "anthropic", "gemini"):
        value, param = _key_settings(settings, provider)
        if (value is not None and value.get_secret_value()) or param:
            return provider
    return "scripted"


def model_name(settings: Settings, provider: str) -> str:
    return settings.llm_model or DEFAULT_MODELS[provider]


def make_chat_model(settings: Settings, provider: str | None = None) -> ChatModel:
    """The chat model of a real provider (`scripted` has none: it is an AgentModel of its own)."""
    provider = provider or resolve_provider(settings)
    if provider not in _KEY_ENV:
        raise ValueError(f"no chat model for provider {provider!r}")
    value, param = _key_settings(settings, provider)
    key = resolve_secret(value, param)
    if key is None and provider == "openai" and settings.openai_base_url:
        key = _PLACEHOLDER_KEY
    if key is None:
        raise ModelError(
            "auth", f"LLM_PROVIDER is {provider} but no API key is configured: set {_KEY_ENV[provider]}"
        )
    model = model_name(settings, provider)
    retries, timeout = settings.llm_max_retries, settings.llm_timeout_seconds
    max_output = settings.llm_max_output_tokens
    if provider == "anthropic":
        from riadex.adapters.llm.anthropic_messages import AnthropicChatModel

        return AnthropicChatModel(
            model=model,
            api_key=key,
            base_url=settings.anthropic_base_url,
            max_retries=retries,
            timeout_seconds=timeout,
            max_output_tokens=max_output,
        )

    from riadex.adapters.llm.openai_chat import GEMINI_BASE_URL, OpenAIChatModel

    gemini = provider == "gemini"
    return OpenAIChatModel(
        model=model,
        api_key=key,
        base_url=(settings.gemini_base_url or GEMINI_BASE_URL) if gemini else settings.openai_base_url,
        provider=provider,
        key_env=_KEY_ENV[provider],
        max_retries=retries,
        timeout_seconds=timeout,
        max_output_tokens=max_output,
    )


def make_agent_model(settings: Settings) -> AgentModel:
    provider = resolve_provider(settings)
    if provider == "scripted":
        from riadex.adapters.llm.scripted import ScriptedAgentModel

        return ScriptedAgentModel()
    return LLMAgentModel(make_chat_model(settings, provider))
