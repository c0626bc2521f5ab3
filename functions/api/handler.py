"""The JSON API function: Mangum around the FastAPI app (API Gateway REST proxy events)."""

from mangum import Mangum

from riadex.bootstrap import bootstrap
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.observability import instrument

app = create_app(bootstrap())
"""The FastAPI app; the local stack serves this same object (riadex/entrypoints/local/gateway.py)."""

handler = instrument("api", Mangum(app, lifespan="off"))  # type: ignore[arg-type]
