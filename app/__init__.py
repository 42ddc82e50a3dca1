"""flashsale: the FastAPI application (wiring, settings, auth, routers, web pages)."""
