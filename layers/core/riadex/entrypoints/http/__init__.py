"""The FastAPI app shared by the JSON function (Mangum), the streaming function and the local server."""
