"""Worker processes for CPU-bound work (matching's public-key operations).

A spawned worker would outlive a parent that dies by a signal (uvicorn re-raises SIGTERM after its
graceful shutdown, so no exit handler of ours runs; SIGKILL runs nothing): each worker watches its
parent and ends itself when the parent is gone. Stdlib only, so that a worker starts quickly."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PARENT_CHECK_SECONDS = 1.0


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(0)  # the parent is gone: nobody will read our results

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` spawned processes (a forked copy of a threaded server could inherit a held lock)
    that end with this process, however it ends."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
