"""The JSON API function: Mangum around the FastAPI app (API Gateway REST proxy events)."""

from mangum import Mangum

from riadex.bootstrap import bootstrap
from riadex.entrypoints.http.app import create_app

handler = Mangum(create_app(bootstrap()), lifespan="off")
