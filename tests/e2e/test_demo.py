"""`make demo` (= `riadex demo`) against the local stack: synthetic CVs uploaded into a new session of
a demo user; the scripted model's shell reads a PDF's text with pdftotext; and the run's events are
read straight from DynamoDB at the endpoint the ready line names, as the README shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.stack import ROOT, emulator_endpoint

pytestmark = pytest.mark.e2e

COMMAND = [sys.executable, "-m", "riadex.entrypoints.cli"]


def _cli(stack: Stack, tmp_path: Path, *args: str, token: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIADEX_", "XDG_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT / "layers" / "core"),
            "RIADEX_URL": stack.base,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "COLUMNS": "160",
        }
    )
    if token:
        env["RIADEX_TOKEN"] = token
    done = subprocess.run([*COMMAND, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_demo_uploads_cvs_the_sandbox_reads_them_and_dynamodb_has_the_events(
    stack: Stack, tmp_path: Path
) -> None:
    pytest.importorskip("fpdf", reason="pip install fpdf2 (requirements.txt)")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed: `make system-deps` (apt-get install poppler-utils)")
    out = tmp_path / "corpus"
    made = json.loads(
        _cli(stack, tmp_path, "demo", "--count", "3", "--seed", "5", "--out", str(out), "--json")
    )
    sid, token = made["session_id"], made["token"]
    people = json.loads((out / "candidates.json").read_text())
    assert [f["name"] for f in made["files"]] == ["candidates.json"] + [
        f"cv-{p['id']}-{p['name'].lower().replace(' ', '-')}.pdf" for p in people
    ]
    assert made["web_url"].startswith(f"{stack.base}/#token=")

    pdf = made["files"][1]["path"]
    shown = _cli(stack, tmp_path, "chat", sid, f"!shell pdftotext {pdf} -", token=token)
    assert people[0]["name"] in shown
    assert people[0]["skills"][0] in shown
    assert "■ completed" in shown

    # The ready line names the local DynamoDB; the README's query lists the run's events from it.
    endpoint = emulator_endpoint(stack.output)
    session = json.loads(_cli(stack, tmp_path, "show", sid, "--json", token=token))
    run_id = session["events"][-1]["run_id"]
    boto3 = pytest.importorskip("boto3")
    from boto3.dynamodb.conditions import Attr, Key

    table = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).Table("riadex-events")
    items = table.query(
        KeyConditionExpression=Key("session_id").eq(sid), FilterExpression=Attr("run_id").eq(run_id)
    )["Items"]
    assert items[0]["type"] == "run"
    assert items[-1]["type"] == "done"
    assert [int(item["seq"]) for item in items] == [
        e["seq"] for e in session["events"] if e["run_id"] == run_id
    ]
