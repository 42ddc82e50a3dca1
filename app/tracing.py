"""OpenTelemetry traces, only when FLASHSALE_OTEL_ENDPOINT is set: spans of every request (FastAPI),
Redis command and SQL statement, sent over OTLP/HTTP (protobuf) to `<endpoint>/v1/traces`.

Unset (the default), this module imports nothing of OpenTelemetry's SDK, exporter or
instrumentations and changes nothing in the request path. Set, the lifespan instruments this app
(its middleware stack is rebuilt with OpenTelemetry's outermost), the Redis client classes (a
process-wide patch: the worker has one Redis client) and this worker's engine, and undoes all three
at shutdown, after the last spans are flushed. Spans leave through a batch processor's thread;
/metrics and /healthz are not traced (scrapers and probes would be most of the spans). Redis
spans carry the command's name only (the instrumentation writes its arguments as "?"), SQL spans the
statement with its placeholders, never its parameters; no header is recorded.
Sampling and the service name follow OpenTelemetry's own variables (OTEL_TRACES_SAMPLER and
OTEL_TRACES_SAMPLER_ARG, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES); the service is `flashsale`
unless OTEL_SERVICE_NAME says otherwise.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.runtime import Runtime

log = logging.getLogger("flashsale.tracing")
UNTRACED_URLS = r"/metrics(\?|$),/healthz(\?|$)"
EXPORT_TIMEOUT_SECONDS = 5.0


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base address (as OTEL_EXPORTER_OTLP_ENDPOINT), or the
    full URL when it already names /v1/traces."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


@asynccontextmanager
async def traced(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """Tracing for the lifespan's duration, when the endpoint is set; otherwise nothing at all."""
    endpoint = runtime.settings.otel_endpoint
    if not endpoint:
        yield
        return
    undo = _start(app, runtime, traces_url(endpoint))
    try:
        yield
    finally:
        await asyncio.to_thread(undo)  # the last batch is sent over HTTP: not on the event loop


def _start(app: FastAPI, runtime: Runtime, url: str) -> Callable[[], None]:
    # Imported here, and only here: a service without the endpoint never loads any of it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "flashsale"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=EXPORT_TIMEOUT_SECONDS)))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)
    # The lifespan itself ran through the stack built before: the next request builds the traced one.
    app.middleware_stack = None
    redis = RedisInstrumentor()
    redis.instrument(tracer_provider=provider)
    sql = SQLAlchemyInstrumentor()
    # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses are unchanged: the
    # check is skipped, and tests/test_tracing.py sees its spans.
    sql.instrument(engine=runtime.engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    log.info("tracing to %s", url)

    def undo() -> None:
        FastAPIInstrumentor.uninstrument_app(app)
        redis.uninstrument()
        sql.uninstrument()
        provider.shutdown()  # flushes what is left

    return undo
