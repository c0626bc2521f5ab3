"""The `riadex` commands (Click). Exit codes: 0 the run completed; 1 an error, or the run failed or
timed out; 3 detached (the run goes on) or no answer to its question; 130 the run was cancelled."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from riadex import __version__
from riadex.entrypoints.cli import store
from riadex.entrypoints.cli.api import STREAM_ERRORS, Api, ApiError
from riadex.entrypoints.cli.render import Display

DEFAULT_URL = "http://localhost:8000"
EXIT_FAILED = 1
EXIT_DETACHED = 3
EXIT_CANCELLED = 130
RETRY_MAX_SECONDS = 10.0


class Context:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def api(self, need_login: bool = True) -> Api:
        entry = store.saved_login(self.url)
        token = os.environ.get("RIADEX_TOKEN") or (entry or {}).get("token")
        if need_login and not token:
            raise click.ClickException(f"not signed in to {self.url}: run `riadex login`")
        return Api(self.url, token)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="RIADEX_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The Riadex server (RIADEX_URL).",
)
@click.version_option(__version__, prog_name="riadex")
@click.pass_context
def cli(ctx: click.Context, url: str) -> None:
    """Riadex from the terminal: sessions, chat with the agent, follow its events, files."""
    ctx.obj = Context(url)


# --- sign in ------------------------------------------------------------------------------------


@cli.command()
@click.option("--name", default=None, help="Local mode: the user's name (default: your login name).")
@click.option("--token", default=None, help="Keep this bearer token (Cognito: an ID token).")
@click.option("--username", default=None, help="Cognito: sign in with this user (asks the password).")
@pass_ctx
def login(ctx: Context, name: str | None, token: str | None, username: str | None) -> None:
    """Sign in: local mode creates a user; Cognito: --username (password asked) or --token."""
    if username:
        password = click.prompt("Password", hide_input=True)
        token = _cognito_token(ctx.url, username, password)
    if token:
        with Api(ctx.url, token) as api:
            api.call("GET", "/sessions", params={"limit": 1})  # proves the token before keeping it
        path = store.save_login(ctx.url, {"token": token})
        ctx.console.print(f"Token kept in {path} (mode 0600).")
        return
    name = name or os.environ.get("USER") or "me"
    with Api(ctx.url, None) as api:
        try:
            user = api.call("POST", "/users", json={"name": name})
        except ApiError as exc:
            if exc.status in (403, 404, 405):
                raise click.ClickException(
                    f"{ctx.url} does not create local users (Cognito sign-in): get an ID token "
                    "(`aws cognito-idp initiate-auth`, see the README) and run `riadex login --token …`"
                ) from None
            raise
    path = store.save_login(ctx.url, {"token": user["token"], "user_id": user["user_id"], "name": name})
    ctx.console.print(f"Signed in to {ctx.url} as [bold]{name}[/] ({user['user_id']}); token in {path}.")


def _cognito_token(url: str, username: str, password: str) -> str:
    """USER_PASSWORD_AUTH against Cognito, with the ids of the web client's config.json (the deployed
    web URL serves it; the API is under /api/v1 there)."""
    import httpx

    try:
        config = httpx.get(f"{url}/config.json", timeout=15).json()
        cognito = config["cognito"]
        region, client_id = cognito["region"], cognito["clientId"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        raise click.ClickException(
            f"{url}/config.json does not name a Cognito client: point RIADEX_URL at the web client's URL "
            "(the stack's WebUrl output), or use --token"
        ) from None
    if not client_id:
        raise click.ClickException(f"{url} does not use Cognito: run `riadex login --name …`")
    response = httpx.post(
        f"https://cognito-idp.{region}.amazonaws.com/",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        },
        json={
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": client_id,
            "AuthParameters": {"USERNAME": username, "PASSWORD": password},
        },
        timeout=30,
    )
    body = response.json() if response.content else {}
    if not response.is_success:
        raise click.ClickException(
            f"Cognito refused the sign-in: {body.get('message', response.status_code)}"
        )
    result = body.get("AuthenticationResult")
    if not result:
        raise click.ClickException(
            f"Cognito asks for another step ({body.get('ChallengeName')}): use --token"
        )
    return str(result["IdToken"])


@cli.command()
@pass_ctx
def logout(ctx: Context) -> None:
    """Forget the token kept for this server."""
    if store.forget_login(ctx.url):
        ctx.console.print(f"Signed out of {ctx.url}.")
    else:
        ctx.console.print(f"Not signed in to {ctx.url}.")


# --- sessions -----------------------------------------------------------------------------------


@cli.command("sessions")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_ctx
def list_sessions(ctx: Context, limit: int, as_json: bool) -> None:
    """List your sessions, newest first."""
    with ctx.api() as api:
        page = api.call("GET", "/sessions", params={"limit": limit})
    sessions = page["sessions"]
    if as_json:
        click.echo(json.dumps(sessions))
        return
    if not sessions:
        ctx.console.print('No sessions yet: `riadex chat "hello"` starts one.')
        return
    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=40)
    for column in ("status", "updated", "events"):
        table.add_column(column, no_wrap=True)
    for item in sessions:
        status = item["status"]
        style = {"running": "yellow", "waiting": "magenta"}.get(status, "")
        table.add_row(
            item["session_id"],
            item["title"] or "[dim](untitled)[/]",
            f"[{style}]{status}[/]" if style else status,
            item["updated_at"][:19].replace("T", " "),
            str(item["last_seq"]),
        )
    ctx.console.print(table)


@cli.command()
@click.option("--title", default=None, help="A title (the first message sets one otherwise).")
@pass_ctx
def new(ctx: Context, title: str | None) -> None:
    """Create a session and print its id."""
    with ctx.api() as api:
        session = api.call("PUT", "/sessions", json={"title": title} if title else {})
    click.echo(session["session_id"])


@cli.command()
@click.argument("sid")
@pass_ctx
def rm(ctx: Context, sid: str) -> None:
    """Delete a session (its runs, events, sandbox and files)."""
    with ctx.api() as api:
        api.call("DELETE", f"/sessions/{sid}")
    ctx.console.print(f"Deleted {sid}.")


@cli.command()
@click.argument("sid")
@click.option("--full", is_flag=True, help="Show tool output in full.")
@click.option("--json", "as_json", is_flag=True, help="Print the session and its events as JSON.")
@pass_ctx
def show(ctx: Context, sid: str, full: bool, as_json: bool) -> None:
    """Show a session and its history."""
    with ctx.api() as api:
        session = api.call("GET", f"/sessions/{sid}")
        events = list(session.get("events") or [])
        while events and events[-1]["seq"] < session["last_seq"]:
            more = api.call("GET", f"/sessions/{sid}", params={"after": events[-1]["seq"], "limit": 100})
            if not more.get("events"):
                break
            events.extend(more["events"])
    if as_json:
        click.echo(json.dumps({**session, "events": events}))
        return
    ctx.console.print(
        f"[bold]{session['title'] or '(untitled)'}[/]  {session['session_id']}  "
        f"[dim]{session['status']} · {session['last_seq']} events · updated {session['updated_at']}[/]"
    )
    display = Display(ctx.console, full=full)
    for event in events:
        display.show(event)


# --- runs ---------------------------------------------------------------------------------------


def _exit_code(done: dict[str, Any]) -> int:
    status = (done.get("data") or {}).get("status")
    if status == "completed":
        return 0
    return EXIT_CANCELLED if status == "cancelled" else EXIT_FAILED


def _ask(ctx: Context, display: Display, sid: str) -> str | None:
    display.stop()
    try:
        # Rich's input lets Ctrl-C through as KeyboardInterrupt (cancel), unlike click.prompt.
        answer = ctx.console.input("[bold]your answer[/]: ")
    except EOFError:
        ctx.err.print(f'No answer given: the run waits for one. Answer later with `riadex chat {sid} "…"`.')
        return None
    display.start()
    return answer


def follow_run(ctx: Context, api: Api, sid: str, rid: str, after: int | None) -> int:
    """Stream a run to its done, resuming after drops; Ctrl-C cancels it, a second Ctrl-C detaches."""
    display = Display(ctx.console)
    display.start()
    last = after or 0
    cancelling = False
    delay = 0.5
    try:
        while True:
            try:
                for item in api.stream(f"/runs/{rid}/events", last or None):
                    if item.kind == "reconnect":
                        break
                    if item.kind == "resync":
                        display.note("· the server asked for a resync; reloading the run's events")
                        last = 0  # replay the run from its start, showing only what is new
                        break
                    if item.seq is None or item.seq <= last:
                        continue
                    last, delay = item.seq, 0.5
                    event = item.event
                    display.show(event, stream_deltas=True)
                    takeover = (event.get("data") or {}).get("reason") == "takeover"
                    if event["type"] == "wait" and not cancelling and not takeover:
                        answer = _ask(ctx, display, sid)
                        if answer is None:
                            return EXIT_DETACHED
                        api.call("POST", f"/sessions/{sid}/messages", json={"message": answer})
                    elif event["type"] == "done":
                        return _exit_code(event)
            except STREAM_ERRORS as exc:
                display.note(f"· connection lost ({exc.__class__.__name__}); resuming after event {last}")
                time.sleep(delay)  # back off before the next attempt, not a wait for a condition
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except KeyboardInterrupt:
                if cancelling:
                    raise
                cancelling = True
                display.set_status("cancelling — Ctrl-C again to detach")
                display.note("· cancelling the run (Ctrl-C again to detach and leave it running)", "yellow")
                display.console.file.flush()
                api.call("POST", f"/runs/{rid}/cancel")
    except KeyboardInterrupt:
        display.stop()
        ctx.err.print(f"Detached; the run goes on. Follow it with `riadex tail {sid}`.")
        return EXIT_DETACHED
    finally:
        display.stop()


@cli.command()
@click.argument("args", nargs=-1, required=True)
@click.option("--title", default=None, help="Title of the new session (when no SID is given).")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Upload this file and attach it (repeatable).",
)
@pass_ctx
def chat(ctx: Context, args: tuple[str, ...], title: str | None, files: tuple[Path, ...]) -> None:
    """Send a message and follow the run: riadex chat [SID] "message".

    With no SID a new session is started and its id printed. Ctrl-C cancels the run; a second
    Ctrl-C detaches (the run goes on). An agent's question is asked here; answer it on the prompt.
    """
    if len(args) > 2:
        raise click.UsageError('give at most a session id and one message: riadex chat [SID] "message"')
    sid, message = (args[0], args[1]) if len(args) == 2 else (None, args[0])
    if message == "-":
        message = sys.stdin.read()
    with ctx.api() as api:
        if sid is None:
            session = api.call("PUT", "/sessions", json={"title": title} if title else {})
            sid = session["session_id"]
            ctx.console.print(f"[dim]session[/] [bold]{sid}[/]")
            after = 0
        else:
            after = int(api.call("GET", f"/sessions/{sid}", params={"limit": 1})["last_seq"])
        attachments = [_upload(ctx, api, sid, path)["file_id"] for path in files]
        body: dict[str, Any] = {"message": message}
        if attachments:
            body["attachments"] = attachments
        accepted = api.call("POST", f"/sessions/{sid}/messages", json=body)
        code = follow_run(ctx, api, sid, accepted["run_id"], after)
    sys.exit(code)


@cli.command()
@click.argument("sid")
@click.option(
    "--after", type=click.IntRange(min=0), default=None, help="Start after this seq (default: the start)."
)
@click.option("--json", "as_json", is_flag=True, help="One event per line, as JSON (for scripts and jq).")
@click.option("--until-done", is_flag=True, help="Stop after the next run's done event.")
@pass_ctx
def tail(ctx: Context, sid: str, after: int | None, as_json: bool, until_done: bool) -> None:
    """Follow a session's events, resuming after drops, until Ctrl-C."""
    display = Display(ctx.console)
    last = after or 0
    delay = 0.5
    with ctx.api() as api:
        try:
            while True:
                try:
                    for item in api.stream(f"/sessions/{sid}/events", last or None):
                        if item.kind == "reconnect":
                            break
                        if item.kind == "resync":
                            last = 0
                            break
                        if item.seq is None or item.seq <= last:
                            continue
                        last, delay = item.seq, 0.5
                        if as_json:
                            click.echo(json.dumps(item.event, ensure_ascii=False))
                        else:
                            display.show(item.event)
                        if until_done and item.event["type"] == "done":
                            sys.exit(_exit_code(item.event))
                except STREAM_ERRORS as exc:
                    if not as_json:
                        display.note(f"· connection lost ({exc.__class__.__name__}); resuming after {last}")
                    time.sleep(delay)  # back off before reconnecting
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
        except KeyboardInterrupt:
            sys.exit(EXIT_DETACHED if until_done else 0)


@cli.command()
@click.argument("sid")
@pass_ctx
def stop(ctx: Context, sid: str) -> None:
    """Cancel the session's active run (the session stays usable)."""
    with ctx.api() as api:
        session = api.call("POST", f"/sessions/{sid}/stop")
    ctx.console.print(f"{sid}: {session['status']}")


# --- files --------------------------------------------------------------------------------------


def _upload(ctx: Context, api: Api, sid: str, path: Path) -> dict[str, Any]:
    import mimetypes

    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    with path.open("rb") as handle:
        stored: dict[str, Any] = api.call(
            "POST", f"/sessions/{sid}/files", files={"file": (path.name, handle, kind)}
        )
    ctx.console.print(
        f"[dim]uploaded[/] {stored['name']} ({stored['size']:,} bytes) → {stored['path']}  "
        f"[dim]{stored['file_id']}[/]",
        soft_wrap=True,
    )
    return stored


@cli.command()
@click.argument("sid")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def upload(ctx: Context, sid: str, file: Path) -> None:
    """Upload FILE into the session (it lands in the sandbox workspace's uploads/)."""
    with ctx.api() as api:
        _upload(ctx, api, sid, file)


@cli.command()
@click.argument("sid")
@click.argument("file_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: its name).",
)
@pass_ctx
def download(ctx: Context, sid: str, file_id: str, output: Path | None) -> None:
    """Download a file of the session."""
    with ctx.api() as api:
        written = api.download(f"/sessions/{sid}/files/{file_id}", output)
    ctx.console.print(f"Wrote {written} ({written.stat().st_size:,} bytes).")


# --- the demo corpus ----------------------------------------------------------------------------


@cli.command()
@click.option("--count", default=6, show_default=True, type=click.IntRange(1, 50), help="How many CVs.")
@click.option("--seed", default=7, show_default=True, help="Same seed, same CVs (data and PDF bytes).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".riadex/demo"),
    show_default=True,
    help="Where the files are written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the session, token and files as JSON.")
@pass_ctx
def demo(ctx: Context, count: int, seed: int, out: Path, as_json: bool) -> None:
    """Generate synthetic CVs and upload them into a new session of a demo user."""
    from urllib.parse import urlencode

    from riadex.entrypoints.cli.demo import write_corpus

    people, files = write_corpus(out, count, seed)
    with Api(ctx.url, None) as anonymous:
        try:
            user = anonymous.call("POST", "/users", json={"name": "demo"})
            token = str(user["token"])
        except ApiError as exc:
            if exc.status not in (403, 404, 405):
                raise
            token = ctx.api().token or ""  # Cognito: the demo goes to the signed-in user
    quiet = Context(ctx.url)
    quiet.console = Console(quiet=as_json)
    with Api(ctx.url, token) as api:
        session = api.call("PUT", "/sessions", json={"title": "Demo: candidate CVs"})
        sid = session["session_id"]
        uploaded = [_upload(quiet, api, sid, path) for path in files]
    first = uploaded[1]["path"]
    web = f"{ctx.url}/#" + urlencode({"token": token, "name": "demo", "s": sid})
    if as_json:
        click.echo(json.dumps({"session_id": sid, "token": token, "web_url": web, "files": uploaded}))
        return
    names = ", ".join(p.name for p in people)
    ctx.console.print(
        f"\n[bold]Demo ready:[/] {len(people)} synthetic CVs (seed {seed}: {names}) in {out}/,\n"
        f"uploaded into session [bold]{sid}[/] of a new user [bold]demo[/].\n\n"
        f"  Web:  {web}\n        (opens the session and signs this browser in as demo)\n"
        f"  CLI:  export RIADEX_TOKEN={token}\n"
        f"        riadex show {sid}\n"
        f"        riadex chat {sid} '!shell pdftotext {first} - | head -40'\n"
        f"  With a model key (OPENAI_API_KEY, …) ask about the candidates:\n"
        f'        riadex chat {sid} "Who has the most Kubernetes experience? Read the CVs in uploads/."',
        soft_wrap=True,
    )


def main() -> None:
    cli()
