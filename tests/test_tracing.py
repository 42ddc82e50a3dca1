"""OpenTelemetry traces with FLASHSALE_OTEL_ENDPOINT set: a request's span reaches an OTLP/HTTP
receiver (a tiny one in this test) with its Redis and SQL spans beside it in the same trace, and
nothing of it stays patched after the lifespan; without the endpoint, nothing of OpenTelemetry's
SDK, exporter or instrumentations is imported."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis.asyncio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import ValidationError

from app.main import create_app
from app.tracing import traces_url
from core.settings import Settings
from tests.support import create_drop, make_account
from tests.test_platform import serving

ROOT = Path(__file__).resolve().parent.parent


class Receiver(ThreadingHTTPServer):
    """Collects the spans POSTed to /v1/traces: (trace id, span name, attributes)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[bytes, str, dict[str, str]]] = []
        self.paths: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.paths.append(self.path)
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    self.server.spans.append((span.trace_id, span.name, attributes))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_endpoint_names_the_traces_url(settings: Settings) -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://c.example/v1/traces") == "https://c.example/v1/traces"
    with pytest.raises(ValidationError, match="otel_endpoint"):
        Settings(**{**settings.model_dump(), "otel_endpoint": "collector:4318"})


async def test_a_request_sends_its_spans_with_redis_and_sql_beside_it(settings: Settings,
                                                                       receiver: Receiver) -> None:
    app = create_app(settings.model_copy(update={"run_background": False, "otel_endpoint": receiver.endpoint}))
    async with serving(app) as client:
        operator = await make_account(app, "operator")
        drop = await create_drop(client, operator)
        assert (await client.get(f"/api/drops/{drop['id']}")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
    # The lifespan's end flushed the last batch and undid every patch.
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    assert not hasattr(redis.asyncio.Redis.execute_command, "__wrapped__")
    assert not hasattr(app, "_original_build_middleware_stack")

    names = {name for _, name, _ in receiver.spans}
    created = [trace for trace, name, _ in receiver.spans if name == "POST /api/admin/drops"]
    assert created, names
    beside = [(name, attrs) for trace, name, attrs in receiver.spans if trace == created[0]]
    assert any(attrs.get("db.system") == "redis" or attrs.get("db.system.name") == "redis"
               for _, attrs in beside), beside
    sql = {"sqlite", "postgresql"}
    assert any(attrs.get("db.system") in sql or attrs.get("db.system.name") in sql for _, attrs in beside), beside
    assert "GET /api/drops/{drop_id}" in names
    assert not any("/metrics" in name for name in names)
    # Redis spans name the command, never its arguments (keys, ids, tokens).
    statements = [attrs.get("db.statement") or attrs.get("db.query.text") or ""
                  for _, _, attrs in receiver.spans if attrs.get("db.system") == "redis"]
    commands = [line for statement in statements for line in statement.splitlines()]  # a pipeline: one a line
    shown = [c for c in commands if not all(word == "?" or (word.isalpha() and word.isupper()) for word in c.split())]
    assert commands and not shown, shown  # "XINFO GROUPS ?": the command's words, then only "?"


@pytest.mark.slow  # a fresh interpreter
def test_without_the_endpoint_nothing_of_it_is_imported(settings: Settings, tmp_path: Path) -> None:
    script = """
import asyncio, json, sys
import httpx
from app.main import create_app
from core.settings import Settings

async def main() -> None:
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/api/drops")).status_code == 200
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))

asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSALE_", "OTEL_"))}
    env.update({"FLASHSALE_DATABASE_URL": settings.database_url, "FLASHSALE_REDIS_URL": settings.redis_url,
                "FLASHSALE_REDIS_PREFIX": settings.redis_prefix + "n", "FLASHSALE_RUN_BACKGROUND": "false",
                "FLASHSALE_VAR_DIR": str(tmp_path), "FLASHSALE_DEMO": "false", "FLASHSALE_LOG_LEVEL": "warning"})
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # redis-py 8 imports the SDK's metrics module when it is installed (its own metrics stay off):
    # tracing, the exporter and the instrumentations are this service's, and none is loaded.
    unwanted = [m for m in loaded if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter",
                                                   "opentelemetry.instrumentation"))]
    assert not unwanted, unwanted
