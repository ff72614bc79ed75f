"""A real S3-compatible server for tests: moto's, in server mode on a free loopback port.

The adapter talks to it over HTTP exactly as it would to OSS, COS or MinIO; only bucket
creation (which the product never does) goes through boto3.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

ACCESS_KEY_ID = "AKIATESTLABORSIGN0001"
SECRET_ACCESS_KEY = "test-secret-access-key-for-moto"
REGION = "cn-north-1"


@dataclass
class S3Server:
    server: Any  # moto.server.ThreadedMotoServer, imported only when a test needs it
    endpoint_url: str

    @classmethod
    def start(cls) -> S3Server:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return cls(server, f"http://{host}:{port}")

    def stop(self) -> None:
        self.server.stop()

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET_ACCESS_KEY)

    def new_bucket(self) -> str:
        name = f"laborsign-{secrets.token_hex(6)}"
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def storage_config(self, bucket: str) -> dict[str, object]:
        """[storage] settings for this server (keys as if from the environment)."""
        return {"backend": "s3", "endpoint_url": self.endpoint_url, "region": REGION,
                "bucket": bucket, "addressing_style": "path", "key_prefix": "ls",
                "s3_access_key_id": ACCESS_KEY_ID, "s3_secret_access_key": SECRET_ACCESS_KEY}
