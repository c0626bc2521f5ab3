"""Choosing the model from the settings, keys from the environment or from SSM (moto), cold imports."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from riadex.adapters.llm.anthropic_messages import AnthropicChatModel
from riadex.adapters.llm.factory import make_agent_model, make_chat_model, resolve_provider
from riadex.adapters.llm.openai_chat import GEMINI_BASE_URL, OpenAIChatModel
from riadex.adapters.llm.scripted import ScriptedAgentModel
from riadex.application.llm import ChatMessage, ModelError
from riadex.application.llm_agent import LLMAgentModel
from riadex.config import Settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Reply

NO_KEYS = {
    "openai_api_key": None,
    "gemini_api_key": None,
    "anthropic_api_key": None,
    "openai_api_key_param": None,
    "gemini_api_key_param": None,
    "anthropic_api_key_param": None,
    "llm_provider": None,
    "openai_base_url": None,
}


def settings(**values: object) -> Settings:
    return Settings.model_validate({**NO_KEYS, **values})


def test_no_key_means_the_scripted_model() -> None:
    assert resolve_provider(settings()) == "scripted"
    assert isinstance(make_agent_model(settings()), ScriptedAgentModel)
    assert resolve_provider(settings(llm_provider="", openai_api_key="")) == "scripted"


def test_a_key_picks_its_provider_and_the_default_model() -> None:
    chat = make_chat_model(settings(anthropic_api_key="sk-ant"))
    assert isinstance(chat, AnthropicChatModel)
    assert chat.model == "claude-sonnet-4-5"
    gemini = make_chat_model(settings(gemini_api_key="g", llm_model="gemini-2.5-pro"))
    assert isinstance(gemini, OpenAIChatModel)
    assert (gemini.provider, gemini.model, gemini.base_url) == ("gemini", "gemini-2.5-pro", GEMINI_BASE_URL)
    agent = make_agent_model(settings(openai_api_key="sk"))
    assert isinstance(agent, LLMAgentModel)
    assert agent.provider == "openai"


def test_an_explicit_provider_without_key_is_a_clear_error() -> None:
    with pytest.raises(ModelError) as caught:
        make_agent_model(settings(llm_provider="anthropic"))
    assert caught.value.kind == "auth"
    assert "set ANTHROPIC_API_KEY" in caught.value.message


def test_openai_with_a_base_url_and_no_key_talks_to_a_local_server() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text="local"))
        chat = make_chat_model(
            settings(llm_provider="openai", openai_base_url=fake.base_url, llm_max_retries=0)
        )
        assert chat.complete([ChatMessage("user", "hi")], []).text == "local"


def test_the_key_can_come_from_an_ssm_parameter(moto_endpoint: str) -> None:
    name = f"/riadex/test/{uuid.uuid4().hex}/openai-api-key"
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value="sk-from-ssm", Type="SecureString"
    )
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text="ok"))
        conf = settings(openai_api_key_param=name, openai_base_url=fake.base_url)
        assert resolve_provider(conf) == "openai"
        make_chat_model(conf).complete([ChatMessage("user", "hi")], [])
        assert fake.script.headers[0]["authorization"] == "Bearer sk-from-ssm"


def test_the_key_can_come_from_secrets_manager(moto_endpoint: str) -> None:
    name = f"riadex-test-{uuid.uuid4().hex}"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=name, SecretString="sk-secret")
    from riadex.adapters.aws_parameters import resolve_secret

    assert resolve_secret(None, f"secretsmanager:{name}") == "sk-secret"


ROOT = Path(__file__).resolve().parents[3]


def test_the_api_app_and_the_model_port_import_no_llm_sdk() -> None:
    code = (
        "import sys\n"
        "import riadex.entrypoints.http.app, riadex.bootstrap, riadex.application.llm_agent\n"
        "import riadex.adapters.llm.factory, riadex.adapters.llm.scripted, riadex.adapters.search.factory\n"
        "bad = sorted(m for m in ('openai', 'anthropic') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "layers/core"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == ""
