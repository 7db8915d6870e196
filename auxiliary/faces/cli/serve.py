"""``python -m auxiliary serve``: its flags and its call into :func:`auxiliary.faces.webapp.launch`, which serves the
page on what :func:`auxiliary.steps.serve.serve` prepared (the checkpoint opened once). Images are filed into
``--feedback-dir`` when given, else the served run's ``feedback/`` (:func:`auxiliary.steps.serve.feedback_folder`)."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.faces.webapp import DEFAULT_HOST, DEFAULT_PORT, free_port, launch
from auxiliary.steps.serve import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DemoError


def _serve_cli(args: argparse.Namespace, cfg: Any, port: int | None) -> None:
    given = arguments.cli_overrides(args).get("feedback_dir")  # --feedback-dir as typed, even the default's value
    demo = launch(
        args.ckpt,
        cfg=cfg,
        feedback_dir=None if given is None else str(given),
        inline=False,
        host=args.host,
        port=port if port is not None else free_port(args.host),
        block=True,
        examples=not args.no_examples,
        share=bool(args.share),
        max_bytes=int(args.max_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
    )
    demo.close(verbose=False)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint to serve, e.g. runs/NAME/best.pt")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=arguments.tcp_port, default=DEFAULT_PORT,
                        help="port, 0 to 65535 (default 7860; 0 = any free port)")
    parser.add_argument("--no-examples", action="store_true", help="do not generate synthetic examples at start-up")
    parser.add_argument("--max-mb", type=arguments.upload_megabytes, default=DEFAULT_MAX_BYTES / 1024 / 1024,
                        help="largest upload in MB, above 0 and at most 1024")
    parser.add_argument("--max-pixels", type=arguments.pixel_count, default=DEFAULT_MAX_PIXELS,
                        help=f"largest image in pixels, 1 to {arguments.MAX_IMAGE_PIXELS:,}")
    parser.add_argument(
        "--share", action="store_true", help="also make a public gradio.live link (off by default; needs internet)"
    )


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    if args.max_mb <= 0 or args.max_pixels <= 0:
        raise DemoError("--max-mb and --max-pixels must be positive")
    if threading.current_thread() is threading.main_thread():
        # `kill` stops the server like Ctrl+C does: closed cleanly, temporary files removed.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    port = None if args.port == 0 else args.port
    if port is not None and not 1 <= port <= 65535:
        raise DemoError(f"--port must be between 1 and 65535, got {args.port}")
    try:
        _serve_cli(args, cfg, port)
    except KeyboardInterrupt:
        pass  # Ctrl+C or kill while starting: the server is closed
    print("webapp: stopped", flush=True)
    return 0

