"""The web client (`web/` at the repository root) served by the local stack at `/`, with the
`config.json` it reads: the API's base path, the auth mode and the Cognito ids.

In AWS the same files are served from S3 behind CloudFront (`make deploy-web` writes their
config.json from the stack's outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from riadex.config import Settings

WEB_DIR = Path(__file__).resolve().parents[5] / "web"
NOVNC_PATH = "/vendor/novnc"
VENDOR = {
    # URL path: the folder of web/node_modules it serves (`npm ci` in web/; make install does it)
    NOVNC_PATH: Path("@novnc/novnc"),  # the live browser view
    "/vendor/marked": Path("marked/lib"),  # Markdown in the agent's replies
    "/vendor/dompurify": Path("dompurify/dist"),  # ... sanitized
}


def web_config(settings: Settings) -> dict[str, Any]:
    client_ids = [c.strip() for c in settings.cognito_client_ids.split(",") if c.strip()]
    return {
        "apiBase": "/api/v1",
        "authMode": settings.auth_mode,
        "cognito": {
            "region": settings.aws_region,
            "userPoolId": settings.cognito_user_pool_id,
            "clientId": client_ids[0] if client_ids else None,
        },
        "novnc": f"{NOVNC_PATH}/core/rfb.js",
    }


def mount_web(app: FastAPI, settings: Settings, web_dir: Path = WEB_DIR) -> bool:
    """Serve the web client at `/` (after every API route); False when `web/` is not there."""
    if not (web_dir / "index.html").is_file():
        return False
    config = web_config(settings)

    @app.get("/config.json", include_in_schema=False)
    def _config() -> JSONResponse:
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    for path, folder in VENDOR.items():
        if (web_dir / "node_modules" / folder).is_dir():
            app.mount(path, StaticFiles(directory=web_dir / "node_modules" / folder), name=path)
    app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
    return True
