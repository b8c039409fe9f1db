"""The deployed Dagster instance in tests: a real PostgreSQL server for the run history, and
the variables of the deploy workflow's steps pointed at it and at a local S3 server (moto).

:class:`PostgresServer` is what the ``postgres`` fixture (``conftest.py``) yields; the fault
tests stop and start it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server on 127.0.0.1 with a ``dagster`` database, in a temporary folder.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.

    Attributes:
        env: The ``DAGSTER_PG_*`` variables of ``docker/dagster.yaml`` for this server.
    """

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        as_root = os.geteuid() == 0
        if as_root and shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="ocr-pg-"))
        self.data, sockets = self.base / "data", self.base / "run"
        sockets.mkdir()
        if as_root:
            self.base.chmod(0o755)
            shutil.chown(sockets, "postgres")
            shutil.chown(self.base, "postgres")
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        self.port = free_port()
        self.options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1"
        self.env = {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": "unused-trust-auth",
            "DAGSTER_PG_DB": "dagster",
        }
        self._run("initdb", "-D", str(self.data), "-U", "dagster", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "dagster", "dagster")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        log = str(self.base / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", self.options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed) and wait."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server if it runs, and remove its files."""
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
             "-w", "stop"],
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


def deployed_instance_env(
    tmp_path: Path, postgres: dict[str, str], moto_endpoint: str, synthetic_root: Path
) -> dict[str, str]:
    """The variables of the deploy workflow's steps, pointed at the local servers."""
    import boto3

    env = {
        **os.environ,
        **postgres,
        "DAGSTER_COMPUTE_LOG_BUCKET": "ocr-dagster-logs",
        "DAGSTER_COMPUTE_LOG_PREFIX": "local",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "OCR_ENVIRONMENT": "local",
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(tmp_path / "outputs"),
        "OCR_COMPUTE": "local",
        "GITHUB_ENV": str(tmp_path / "github_env"),
    }
    for name in ("OCR_REGIONS", "OCR_WIPE", "OCR_FORCE", "OCR_VERSION", "DAGSTER_HOME"):
        env.pop(name, None)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = env["DAGSTER_COMPUTE_LOG_BUCKET"]
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
        )
    return env
