"""A local S3 endpoint for the picture tests: moto's server (`moto[server]`) on a free port of 127.0.0.1,
speaking the real S3 HTTP API, which the app's aiobotocore client reaches over TCP like any other
store. boto3 (plain, blocking) reads the bucket directly to check what the app wrote."""
from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from core.settings import Settings

REGION = "us-east-1"
ACCESS_KEY_ID = "flashsale-test-key"
SECRET_ACCESS_KEY = "flashsale-test-secret-0123456789"  # the stand-in checks no signature


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self) -> Any:
        return _client(self.url)

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def objects(self, bucket: str) -> dict[str, tuple[str, str, bytes]]:
        """Every object: key -> (content type, cache control, bytes)."""
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                got = client.get_object(Bucket=bucket, Key=item["Key"])
                found[item["Key"]] = (got["ContentType"], got.get("CacheControl", ""), got["Body"].read())
        return found

    def settings(self, base: Settings, bucket: str, **overrides: object) -> Settings:
        """`base` (the test run's database and Redis) with its pictures in `bucket`."""
        return base.model_copy(update={
            "s3_endpoint_url": self.url, "s3_bucket": bucket, "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID, "s3_secret_access_key": SecretStr(SECRET_ACCESS_KEY),
            "s3_timeout_seconds": 2.0, "run_background": False, **overrides})


@functools.cache
def _client(url: str) -> Any:
    """One blocking client per endpoint (making one loads botocore's S3 model: about a third of a second)."""
    return boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY)


@contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (an S3 endpoint that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
