"""``python -m apps.billing.local_stripe [--host 127.0.0.1] [--port 12111] [--state FILE]``.

Runs the local Stripe server under uvicorn, one worker (the state lives in the process).
``LOCAL_STRIPE_PORT`` sets the default port and ``LOCAL_STRIPE_STATE`` the default state
file; other settings come from the environment (docs/local-stripe.md).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from apps.billing.local_stripe.core import DEFAULT_PORT

# A webhook delivery can hold a connection for its timeout; a dev helper stops promptly.
GRACEFUL_SHUTDOWN_S = 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m apps.billing.local_stripe",
        description="The subset of Stripe's API the app uses, for dev and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LOCAL_STRIPE_PORT") or DEFAULT_PORT)
    )
    parser.add_argument(
        "--state",
        default=os.environ.get("LOCAL_STRIPE_STATE") or None,
        help="JSON file that keeps the state across restarts (default: none, in memory)",
    )
    args = parser.parse_args(argv)

    # Imported here so `--help` and argument errors stay instant.
    from apps.billing.local_stripe.server import build_app

    # The app's settings come from the environment; the arguments win over it.
    env = {**os.environ, "LOCAL_STRIPE_PORT": str(args.port)}
    env["LOCAL_STRIPE_STATE"] = args.state or ""
    config = uvicorn.Config(
        build_app(env),
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
