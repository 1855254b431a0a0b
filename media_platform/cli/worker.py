"""``media-platform worker [--queue gpu]``: a Celery worker that executes the steps of runs
launched with ``MEDIA_PLATFORM_EXECUTOR=celery``.

It becomes (``exec``) ``python -m celery -A resources.celery_worker worker`` in the project
folder, so its process id is the worker's and signals reach it directly. Without ``--queue`` it
serves dagster-celery's default queue ``dagster`` (every CPU step); ``--queue gpu`` serves only
the GPU steps (CLIP embeddings, Whisper), for hosts with a GPU. The broker, the result backend
and the retry settings come from the same settings as the executor's
(``MEDIA_PLATFORM_CELERY_BROKER``...), and the worker needs the same storage and instance
settings as the rest of the deployment (``MEDIA_PLATFORM_HOME``, ``DAGSTER_HOME`` with a
PostgreSQL ``dagster.yaml``: ``deploy/README.md``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from media_platform.cli.code_location import project_root
from media_platform.cli.inputs import CliError

DEFAULT_QUEUE = "dagster"
WORKER_APP = "resources.celery_worker"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_WORKER_NAME = re.compile(r"[A-Za-z0-9%@_.-]{1,128}")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def worker_argv(queues: list[str], concurrency: int, name: str | None, loglevel: str) -> list[str]:
    """The ``celery worker`` command line for these queues (checked)."""
    for queue in queues:
        if not _QUEUE_NAME.fullmatch(queue):
            raise CliError(f"--queue: {queue!r} is not a queue name (letters, digits, _ . -)")
    if concurrency < 1:
        raise CliError(f"--concurrency: {concurrency} must be at least 1")
    name = name or f"{'+'.join(queues)}@%h"
    if not _WORKER_NAME.fullmatch(name):
        raise CliError(f"--name: {name!r} is not a worker name (letters, digits, % @ _ . -)")
    return [
        sys.executable, "-m", "celery", "-A", WORKER_APP, "worker",
        "--queues", ",".join(queues), "--hostname", name, "--concurrency", str(concurrency),
        "--prefetch-multiplier", "1", "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]


def cmd_worker(args: argparse.Namespace) -> int:
    argv = worker_argv(args.queue or [DEFAULT_QUEUE], args.concurrency, args.name, args.loglevel)
    root = project_root()
    if args.print_command:
        print(f"cd {root} && {' '.join(argv)}")
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(root)  # `python -m` puts the working folder first on the path: the code location's
    os.execv(sys.executable, argv)  # packages (resources/, assets/) import as in a run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="start a Celery worker for MEDIA_PLATFORM_EXECUTOR=celery (--queue gpu on GPU hosts)")
    p.add_argument("--queue", action="append", default=None,
                   help=f"queue to serve (repeatable; default {DEFAULT_QUEUE!r}, the CPU steps; 'gpu': the GPU steps)")
    p.add_argument("--concurrency", type=int, default=1, help="steps at once (default 1)")
    p.add_argument("--name", default=None, help="worker name (default <queues>@<host>)")
    p.add_argument("--loglevel", default="INFO", choices=LOG_LEVELS)
    p.add_argument("--print-command", action="store_true", help="print the celery command instead of running it")
    p.set_defaults(func=cmd_worker)
