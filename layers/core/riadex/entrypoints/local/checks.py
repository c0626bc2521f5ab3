"""What the local stack cannot do on this machine, said once at start (`make dev`), so that a newcomer
learns it before a run fails: a tool needing a missing program or an unset setting, an unjailed or
impossible sandbox. Every line names what is missing and how to get it; a call to an unavailable tool
still answers with a failed result that says the same."""

from __future__ import annotations

import shutil
from pathlib import Path

from riadex.config import Settings

CHROMIUM = "/usr/bin/chromium"  # where the sandbox's tool server looks for it (SANDBOX_CHROMIUM)


def unavailable(settings: Settings) -> list[str]:
    notes: list[str] = []
    local_sandboxes = settings.sandbox_backend == "process"
    if local_sandboxes and settings.sandbox_jail != "none" and shutil.which("bwrap") is None:
        notes.append(
            "sandboxes: none can start, so no tool runs — bubblewrap is not installed "
            "(apt-get install bubblewrap), or set SANDBOX_JAIL=none to run them unjailed (development only)"
        )
    elif local_sandboxes and settings.sandbox_jail == "none":
        notes.append(
            "sandboxes: unjailed (SANDBOX_JAIL=none) — they share this host's files and network; "
            "development only"
        )
    if not settings.sandbox_browser:
        notes.append("!browse (browser_*): off — SANDBOX_BROWSER=false")
    elif local_sandboxes and not Path(CHROMIUM).exists():
        notes.append(
            f"!browse (browser_*): unavailable — no Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    if settings.search_provider is None:
        notes.append(
            "!search (web_search): unavailable — no search provider; set SEARCH_PROVIDER "
            "(tavily, brave or searxng) and SEARCH_API_KEY (SEARCH_BASE_URL for searxng)"
        )
    if local_sandboxes and settings.sandbox_vnc:
        missing = [name for name in ("Xvfb", "x11vnc") if shutil.which(name) is None]
        if missing:
            packages = " ".join("xvfb" if name == "Xvfb" else name for name in missing)
            notes.append(f"VNC: unavailable — {', '.join(missing)} not found (apt-get install {packages})")
    return notes
