"""``[kernel] workers = N``: several server processes on one machine, on either backend.

``teamcal serve`` migrates the database once, then hands the listening socket
to uvicorn's supervisor, which starts N worker processes (``spawn``: each a
fresh interpreter) and starts a new one when one dies. Each worker builds its
own :class:`kernel.host.Host` from the same plugins.toml through
:func:`worker_app`, so it opens its own connections: on SQLite every worker
opens the same file (WAL: readers never wait, writers queue on its lock), on
PostgreSQL its own pool. Everything the workers share lives in the store, as
it does for several nodes (docs/deployment.md): leases and jobs, the change
feed, the failed-login ledger, locks and feed tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from kernel.host import Host

#: The environment variable the supervisor passes to its workers: where plugins.toml is,
#: and the command line's --host/--port.
WORKER_ENV = "TEAMCAL_WORKER"


def serve_workers(served: Host, workers: int, **options: Any) -> None:
    """Run ``workers`` processes serving ``served``'s deployment under uvicorn's supervisor
    (``options`` are uvicorn's: host, port, TLS, log level); returns when they stopped."""
    import uvicorn

    from kernel.operations import MULTIPROCESS_ENV

    os.environ[WORKER_ENV] = json.dumps(
        {"config": str(served.config.path), "host": served.kernel.host, "port": served.kernel.port}
    )
    # the workers' metrics, added up by whichever worker a scrape reaches (kernel.operations);
    # a folder the environment already names is the operator's, kept
    metrics_dir = None if os.environ.get(MULTIPROCESS_ENV) else tempfile.mkdtemp(prefix="teamcal-metrics-")
    if metrics_dir is not None:
        os.environ[MULTIPROCESS_ENV] = metrics_dir
    try:
        uvicorn.run("kernel.workers:worker_app", factory=True, workers=workers, lifespan="on", **options)
    finally:
        if metrics_dir is not None:
            del os.environ[MULTIPROCESS_ENV]
            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> ASGIApp:
    """The app of one worker process: a host of its own on the deployment's database
    (already migrated by the supervisor), closed when the worker stops."""
    from kernel.app import build_app
    from kernel.collector import tune_for_serving
    from kernel.host import Host

    given = json.loads(os.environ[WORKER_ENV])
    host = Host.from_config(given["config"], migrate=False)
    host.kernel.host, host.kernel.port = given["host"], given["port"]
    app = build_app(host, owns_host=True)
    tune_for_serving()
    return app
