"""`python -m sandbox_server.healthcheck`: the image's HEALTHCHECK (exit 0 when /health answers ok).

It reads the same environment as the server, so the secret never appears on a command line. When the
container only has the secret's digest (SANDBOX_SECRET_SHA256), the server's own 401 envelope is proof
enough that it is up and serving.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("SANDBOX_PORT") or "8080"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health",
        headers={"Authorization": f"Bearer {os.environ.get('SANDBOX_SECRET', '')}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 401 and not os.environ.get("SANDBOX_SECRET"):
            return 0
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if body.get("ok") and body.get("data", {}).get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
