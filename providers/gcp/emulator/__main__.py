"""``python -m providers.gcp.emulator --port 8085``: serve until Ctrl-C, for demos."""

from __future__ import annotations

import argparse
import threading

from providers.gcp.emulator.runner import start_emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m providers.gcp.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--project", default="ccm-test")
    parser.add_argument(
        "--operation-steps",
        type=int,
        default=2,
        help="operations.get polls before an operation is DONE (0: done at once)",
    )
    args = parser.parse_args(argv)
    emulator = start_emulator(
        args.host, args.port, args.project, operation_steps=args.operation_steps
    )
    print(f"GCE emulator for project {args.project} at {emulator.url} (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
