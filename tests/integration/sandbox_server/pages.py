"""A tiny local web site for the browser tests (the tests never touch the internet)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

INDEX = """<!doctype html>
<html><head><title>Riadex test page</title></head>
<body>
<h1>Welcome to the test page</h1>
<a href="/second">Second page</a>
<a href="/second" target="_blank">Open in new tab</a>
<button onclick="window.open('/second')">Open by script</button>
<label>Name <input id="name" placeholder="your name"></label>
<button id="greet" onclick="document.getElementById('out').textContent = 'Hello, ' +
  document.getElementById('name').value">Greet</button>
<div id="out"></div>
<select id="color"><option value="r">Red</option><option value="g">Green</option>
  <option value="b">Blue</option></select>
<form action="/echo" method="get"><input name="q" placeholder="search"></form>
<div style="display:none"><button>Invisible</button></div>
<div style="height: 5000px">tall</div>
<script>console.log('page-loaded'); console.error('an error line');</script>
</body></html>"""

SECOND = "<!doctype html><title>Second page</title><p>You reached the second page</p>"


class Site:
    def __init__(self) -> None:
        self.hang_started = threading.Event()
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/hang":
                    site.hang_started.set()
                    site.release.wait(60)
                    body = "<title>finally</title>late"
                elif url.path == "/second":
                    body = SECOND
                elif url.path == "/echo":
                    q = parse_qs(url.query).get("q", [""])[0]
                    body = f"<title>Echo</title><p>You searched for {q}</p>"
                else:
                    body = INDEX
                data = body.encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the browser gave up on this request (the stop test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
