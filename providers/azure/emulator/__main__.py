"""``python -m providers.azure.emulator --port 8443``: serve until Ctrl-C, for demos."""

from __future__ import annotations

import argparse
import threading

from providers.azure.emulator.runner import DEFAULT_SUBSCRIPTION, DEFAULT_TOKEN, start_emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m providers.azure.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--subscription", default=DEFAULT_SUBSCRIPTION)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--operation-steps",
        type=int,
        default=2,
        help="status polls until an operation ends (0: writes land at once)",
    )
    parser.add_argument(
        "--operation-seconds",
        type=float,
        default=None,
        help="also end operations this long after they start, polled or not",
    )
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args(argv)
    emulator = start_emulator(
        args.host,
        args.port,
        args.subscription,
        token=args.token,
        operation_steps=args.operation_steps,
        page_size=args.page_size,
        operation_seconds=args.operation_seconds,
    )
    print(f"Azure (Microsoft.Network) emulator at {emulator.url} (Ctrl-C stops)", flush=True)
    print(f"  subscription: {emulator.subscription}", flush=True)
    print(f"  CA file:      {emulator.ca_file}", flush=True)
    print(f"  token:        {emulator.token}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
