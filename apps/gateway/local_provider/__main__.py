"""``python -m apps.gateway.local_provider [--host 127.0.0.1] [--port 18080]``.

Runs the local provider under uvicorn, one worker. ``LOCAL_PROVIDER_PORT`` sets the
default port.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

DEFAULT_PORT = 18080
# On SIGTERM uvicorn waits for open connections; a paced stream or a timeout fault can
# hold one for 30 s, and a dev/test helper should stop promptly.
GRACEFUL_SHUTDOWN_S = 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m apps.gateway.local_provider",
        description="OpenAI-compatible local provider: dev chat model and real embeddings.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LOCAL_PROVIDER_PORT") or DEFAULT_PORT)
    )
    args = parser.parse_args(argv)

    # Imported here so `--help` and argument errors stay instant.
    from apps.gateway.local_provider.server import app

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
