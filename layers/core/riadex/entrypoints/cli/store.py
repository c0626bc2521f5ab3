"""Where the CLI keeps its tokens: `<XDG config dir>/riadex/config.json`, mode 0600, one per server URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

APP_NAME = "riadex"


def config_path() -> Path:
    # Click follows XDG_CONFIG_HOME on Linux (~/.config/riadex), the platform's place elsewhere.
    return Path(click.get_app_dir(APP_NAME)) / "config.json"


def _load() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"servers": {}}
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}; delete it and run `riadex login`") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        return {"servers": {}}
    return data


def saved_login(url: str) -> dict[str, Any] | None:
    entry = _load()["servers"].get(url)
    return entry if isinstance(entry, dict) else None


def save_login(url: str, entry: dict[str, Any]) -> Path:
    data = _load()
    data["servers"][url] = entry
    return _write(data)


def forget_login(url: str) -> bool:
    data = _load()
    if data["servers"].pop(url, None) is None:
        return False
    _write(data)
    return True


def _write(data: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start (never readable by others, even for a moment), then moved into place.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
