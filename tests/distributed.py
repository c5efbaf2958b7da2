"""One process of a multi-process run: ``python tests/distributed.py PORT PROCESSES ID OUT``.

Joins ``jax.distributed`` on localhost with 2 simulated CPU devices per process
(``XLA_FLAGS`` set by the caller), runs a 4-item batch split over every process's
devices by ``jaxstyle.stylize`` and, in process 0, saves the images to ``OUT``.
tests/scale/test_sharding.py compares them with one process.
"""

from __future__ import annotations

import sys

import jax
import numpy as np


def problem() -> tuple[np.ndarray, np.ndarray, list]:
    """The batch both the distributed and the one-process runs paint."""
    from jaxstyle import Config

    rng = np.random.default_rng(4)
    content, style = rng.uniform(size=(4, 24, 32, 3)), rng.uniform(size=(24, 24, 3))
    configs = [Config(iterations=3, ratio=r) for r in (1e-3, 1e-2, 1e-1, 1.0)]
    return content.astype(np.float32), style.astype(np.float32), configs


def main(port: str, processes: int, index: int, out: str) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=processes, process_id=index)
    from jaxstyle import TORCHVISION, init_params, stylize

    content, style, configs = problem()
    params = init_params(jax.random.key(0), (8, 16, 16, 24, 24))
    result = stylize(content, style, params, TORCHVISION, configs, key=jax.random.key(1))
    assert jax.device_count() == 2 * processes, jax.device_count()
    if jax.process_index() == 0:
        np.save(out, result.image)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
