"""The JSON API function: Mangum around the FastAPI app (API Gateway REST proxy events)."""

from aws_lambda_powertools import Logger
from mangum import Mangum

from riadex.bootstrap import bootstrap
from riadex.entrypoints.http.app import create_app

logger = Logger()
_app = Mangum(create_app(bootstrap()), lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:  # type: ignore[type-arg]
    return _app(event, context)  # type: ignore[arg-type]
