"""``python -m integrations.emulator --port 8025``: serve the emulator in the foreground."""

from __future__ import annotations

import argparse
import logging

from .server import run


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m integrations.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="HTTP port (default 8025)")
    parser.add_argument(
        "--smtp-port", type=int, default=0, help="SMTP sink port (default: any free)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    run(args.host, args.port, smtp_port=args.smtp_port)


if __name__ == "__main__":
    main()
