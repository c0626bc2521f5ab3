"""The streaming function's ASGI app (run.sh starts it under uvicorn behind the Lambda Web Adapter)."""

from riadex.bootstrap import bootstrap
from riadex.entrypoints.http.app import create_stream_app
from riadex.entrypoints.observability import enable_metrics

enable_metrics()
app = create_stream_app(bootstrap())
