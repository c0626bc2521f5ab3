"""The JSON API function: Mangum around the FastAPI app (API Gateway REST proxy events)."""

from mangum import Mangum

from riadex.bootstrap import bootstrap
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.observability import instrument

_app = Mangum(create_app(bootstrap()), lifespan="off")

handler = instrument("api", _app)  # type: ignore[arg-type]
