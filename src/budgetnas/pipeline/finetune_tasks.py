"""Fine-tunings of a finished run's networks as executor tasks (docs/methods/executors.md).

The committee's candidates and the baselines benchmark's networks each get the run's own
fine-tuning, independently of one another, so they can run on a local process pool or as Ray
tasks (:func:`budgetnas.executors.get_executor`). A :class:`FinetuneJob` says how to open the
run directory and what to send back; every worker opens the run once (the directory must be
reachable from the worker: on a cluster, a shared file system) and returns, for each
architecture, the accuracies, the fine-tuning's time and, when asked, the fine-tuned weights and
its softmax outputs on named splits. The caller alone writes results (its store, its member
files), so a rerun fine-tunes only what it has not kept.

A fine-tuning is seeded from the run's settings alone, so its result does not depend on which
worker ran it or in which order: 2 local workers and 2 Ray tasks give the weights, outputs and
accuracies of an in-process fine-tuning, bit for bit (``tests/test_committee_run.py``,
``tests/test_bench_baselines.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FinetuneJob", "finetune_on_executor"]


@dataclass(frozen=True)
class FinetuneJob:
    """How every task of a batch of fine-tunings opens the run and what it returns.

    ``heldout``: held-out images of the evaluator scoring the one-shot and fine-tuned held-out
    accuracy (None: the run's predictor evaluator); ``outputs``: ``(split, images)`` pairs whose
    softmax outputs come back with the weights (``images`` None: the whole split); ``threads``:
    torch threads of each worker.
    """

    run: str
    epochs: int | None = None
    images: int | None = None
    heldout: int | None = None
    outputs: tuple[tuple[str, int | None], ...] = ()
    device: str | None = None
    precision: str | None = None
    threads: int = 1

    def opening(self) -> tuple:
        return (self.run, self.device, self.precision)

    def __call__(self, arch_text: str) -> dict[str, Any]:
        """Fine-tune ``arch_text`` (its string form) as the run does; ``{"accs", "finetune_s"}``
        and, with ``outputs``, ``"state"`` (CPU tensors) and ``"outputs"`` (split: array)."""
        import torch

        from budgetnas.devices import state_on_cpu
        from budgetnas.training.evaluate import softmax_outputs
        from budgetnas.training.trained import parse_arch

        p = _opened(self)
        torch.set_num_threads(self.threads)  # after opening, which may set the run's own
        arch = parse_arch(p.space, arch_text)
        t = time.perf_counter()
        net, accs = p.finetune(arch, self.epochs, self.images, evaluator=evaluator(p, self.heldout))
        done: dict[str, Any] = {"accs": accs, "finetune_s": time.perf_counter() - t}
        if self.outputs:
            rt = p.trained.runtime
            done["outputs"] = {
                split: softmax_outputs(net, p.trained.batches(split, n, 256), rt)
                for split, n in self.outputs
            }
            done["state"] = state_on_cpu(net.state_dict())
        return done


def evaluator(p, heldout: int | None):
    """The evaluator of ``heldout`` held-out images of the opened run ``p``, with the run's
    predictor settings (None: the run's predictor evaluator itself)."""
    if heldout is None:
        return None
    s = p.cfg
    return p.trained.evaluator(
        heldout,
        s.predictor.batch,
        passes=s.predictor.passes,
        seed=s.train.seed,
        sampling=s.predictor.sampling,
    )


def _opened(job: FinetuneJob):
    from budgetnas.executors.base import built_once
    from budgetnas.pipeline.run import open_run

    def open_it():
        return open_run(job.run, log=_quiet, device=job.device, precision=job.precision)

    return built_once(("finetune", *job.opening()), open_it)


def _quiet(_msg: str) -> None:
    """The log of a worker (the caller logs the tasks)."""


def finetune_on_executor(
    job: FinetuneJob,
    archs: Sequence[str],
    executor,
    log: Callable[[str], None],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(arch, job(arch))`` for every architecture of ``archs`` (string forms), fine-tuned on
    ``executor``'s workers, in the order they finish."""
    log(f"fine-tuning {len(archs)} network(s) on {executor.describe()}")
    for n, (i, done) in enumerate(executor.map(job, [(a,) for a in archs]), start=1):
        log(f"[{n}/{len(archs)}] fine-tuned {archs[i]} ({done['finetune_s']:.0f} s)")
        yield archs[i], done
