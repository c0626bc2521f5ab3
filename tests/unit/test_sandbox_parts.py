"""Small sandbox parts with no I/O: the LLM tool schemas, the upload policy, the VNC tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from riadex.adapters.auth.tokens import HS256Tokens
from riadex.adapters.auth.vnc_tokens import VncTokens
from riadex.adapters.tools.schemas import ALL_FUNCTIONS, function_named, openai_tools
from riadex.application.files import UploadPolicy, safe_name
from riadex.domain.errors import InvalidInput, TooLarge, Unauthorized, UnsupportedType
from riadex.domain.models import User, utcnow

SECRET = "x" * 48


class TestToolSchemas:
    def test_every_function_is_a_valid_openai_function_of_a_spec_tool(self) -> None:
        tools = openai_tools()
        assert len(tools) == len(ALL_FUNCTIONS)
        names = [t["function"]["name"] for t in tools]
        assert len(set(names)) == len(names)
        for tool, spec in zip(tools, ALL_FUNCTIONS, strict=True):
            assert tool["type"] == "function"
            params = tool["function"]["parameters"]
            assert params["type"] == "object"
            assert set(params["required"]) <= set(params["properties"])
            assert spec.tool in ("shell", "file", "browser")
            assert spec.name.startswith(spec.tool + "_")
            assert tool["function"]["description"]

    def test_a_function_maps_back_to_its_tool_and_server_route(self) -> None:
        spec = function_named("shell_exec")
        assert spec is not None
        assert spec.tool == "shell"
        assert spec.path == "/shell/exec"
        browser = function_named("browser_press_key")
        assert browser is not None
        assert browser.path == "/browser/press_key"
        assert function_named("rm_rf") is None
        stop = function_named("browser_stop")  # the control plane's, for cancel; never the model's
        assert stop is not None
        assert stop.path == "/browser/stop"
        assert "browser_stop" not in {t["function"]["name"] for t in openai_tools()}

    def test_the_agent_loop_gets_the_same_functions_as_tool_specs(self) -> None:
        from riadex.adapters.tools.schemas import tool_specs
        from riadex.application import tool_catalog

        specs = {spec.name: spec for spec in tool_specs()}
        assert set(specs) == {t["function"]["name"] for t in openai_tools()}
        for name in (tool_catalog.SHELL_EXEC, tool_catalog.FILE_READ, tool_catalog.FILE_WRITE):
            assert name in specs
            assert tool_catalog.tool_of(name) == function_named(name).tool  # type: ignore[union-attr]
        assert tool_catalog.tool_of(tool_catalog.BROWSER_NAVIGATE) == "browser"
        assert tool_catalog.BROWSER_NAVIGATE in specs

    def test_tools_can_be_selected(self) -> None:
        assert {t["function"]["name"].split("_")[0] for t in openai_tools(("file",))} == {"file"}

    def test_only_reads_are_retried(self) -> None:
        retried = {f.name for f in ALL_FUNCTIONS if f.idempotent}
        assert "shell_exec" not in retried
        assert "file_write" not in retried
        assert {"shell_view", "file_read"} <= retried


class TestUploadPolicy:
    policy = UploadPolicy(max_bytes=10, content_types=["text/*", "application/pdf"])

    def test_accepts_listed_types_within_the_size(self) -> None:
        accepted = [(10, "text/plain; charset=utf-8"), (1, "application/pdf"), (0, "TEXT/Markdown")]
        refused: list[tuple[int, str]] = []
        for size, kind in [*accepted, (1, "image/png"), (11, "application/pdf")]:
            try:
                self.policy.check(size, kind)
            except (TooLarge, UnsupportedType):
                refused.append((size, kind))
        assert refused == [(1, "image/png"), (11, "application/pdf")]

    def test_refuses_too_large(self) -> None:
        with pytest.raises(TooLarge):
            self.policy.check(11, "text/plain")

    def test_refuses_unlisted_types(self) -> None:
        with pytest.raises(UnsupportedType):
            self.policy.check(1, "application/x-msdownload")

    @pytest.mark.parametrize("name", ["", "..", "a/", "x" * 256])
    def test_refuses_unusable_names(self, name: str) -> None:
        with pytest.raises(InvalidInput):
            safe_name(name)

    def test_keeps_only_the_base_name(self) -> None:
        assert safe_name("../../etc/passwd") == "passwd"
        assert safe_name("C:\\\\x\\\\report.pdf") == "report.pdf"


class TestVncTokens:
    def test_a_token_is_bound_to_its_session(self) -> None:
        tokens = VncTokens(SECRET, 60)
        token, expires = tokens.issue("usr_1", "ses_1")
        assert expires > utcnow()
        assert tokens.verify(token, "ses_1") == "usr_1"
        with pytest.raises(Unauthorized):
            tokens.verify(token, "ses_2")

    def test_an_expired_token_is_refused(self) -> None:
        tokens = VncTokens(SECRET, 1)
        token, _ = tokens.issue("usr_1", "ses_1")
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="riadex-vnc")
        claims["exp"] = int(time.time()) - 5
        expired = jwt.encode(claims, SECRET, algorithm="HS256")
        with pytest.raises(Unauthorized, match="expired"):
            tokens.verify(expired, "ses_1")

    def test_login_tokens_and_vnc_tokens_do_not_cross(self) -> None:
        login = HS256Tokens(SECRET, 3600)
        vnc = VncTokens(SECRET, 60)
        bearer = login.issue(User("usr_1", "Ada", utcnow()))
        with pytest.raises(Unauthorized):
            vnc.verify(bearer, "ses_1")
        vnc_token, _ = vnc.issue("usr_1", "ses_1")
        with pytest.raises(Unauthorized):
            login.verify(vnc_token)
