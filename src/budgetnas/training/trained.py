"""One way to open a trained supernet: :class:`TrainedSupernet`.

A trained supernet is a checkpoint written by :class:`~budgetnas.training.SupernetTrainer`
(``supernet.pt``) together with the training configuration stored in it. Everything that scores
paths of it needs the same things: the network, its space, the data splits shaped like its
input, the BatchNorm recalibration batches and evaluators on held-out images. This object owns
their loading and checks, so that commands, benchmarks and the pipeline ask it instead of
rebuilding them.

Example:
    >>> import tempfile
    >>> from budgetnas.training import SupernetTrainer, TrainConfig
    >>> out = tempfile.mkdtemp()
    >>> cfg = TrainConfig(data="synthetic", preset="tiny", epochs_a=1, epochs_b=0, subset=32,
    ...                   batch_size=16, max_steps=1, eval_subset=16, bn_batches=1)
    >>> _ = SupernetTrainer(cfg, out, progress=False).run()
    >>> trained = TrainedSupernet.open(out)
    >>> trained.space.config.name, trained.train.data
    ('tiny', 'synthetic')
    >>> ev = trained.evaluator(heldout=16, batch=8)
    >>> 0.0 <= ev.one_shot_accuracy(trained.space.heaviest()) <= 1.0
    True
    >>> rec = trained.score("heaviest", subset=8)
    >>> rec["images"], 0.0 <= rec["accuracy"] <= 1.0
    (8, True)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["TrainedSupernet", "parse_arch", "supernet_checkpoint"]


def supernet_checkpoint(path: str | Path) -> Path:
    """The checkpoint file named by ``path``: the file itself, a training folder holding
    ``supernet.pt``, a run directory holding ``supernet/supernet.pt``, or the name of a
    registered supernet (:mod:`budgetnas.hub`; its file's checksum checked)."""
    from budgetnas.hub import resolve_supernet
    from budgetnas.training.supernet import CHECKPOINT

    path = resolve_supernet(path)
    if path.is_dir():
        for candidate in (path / CHECKPOINT, path / "supernet" / CHECKPOINT):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(
            f"{path} holds no trained supernet ({CHECKPOINT}); train one with "
            f"`budgetnas train --out {path}`"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"no supernet checkpoint at {path}; train one with `budgetnas train --out DIR`"
        )
    return path


def parse_arch(space, text: str):
    """The architecture of ``space`` written as ``text``: its string form, or ``"heaviest"`` /
    ``"smallest"``."""
    if text == "heaviest":
        return space.heaviest()
    if text == "smallest":
        return space.smallest()
    return space.from_string(text)


class TrainedSupernet:
    """A trained supernet with its training configuration, data and evaluators.

    ``train`` is the configuration whose data settings (dataset, subset, batch size, seed) shape
    the splits and recalibration batches; :meth:`open` reads it from the checkpoint and lets a
    caller override the folder of the data and the number of recalibration batches. Its
    ``device`` and ``precision`` are where and how every path is scored: the network is moved
    there (``runtime``, a :class:`budgetnas.devices.Runtime`).
    """

    def __init__(self, net, train, path: Path | None = None, state: dict | None = None):
        from budgetnas.devices import Runtime
        from budgetnas.training.speed import fast_layout

        self.runtime = Runtime.resolve(train.device, train.precision)
        first = next(net.parameters())
        if first.device != self.runtime.device:
            net = fast_layout(net.to(self.runtime.device), self.runtime.device)
        self.net = net.eval()
        self.train = train
        self.path = path
        self.state = state or {}
        self._recal: list | None = None

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        data_dir: str | None = None,
        bn_batches: int | None = None,
        finished: bool = True,
        device: str | None = None,
        precision: str | None = None,
    ) -> TrainedSupernet:
        """Open the checkpoint at ``path`` (see :func:`supernet_checkpoint`). ``finished``: refuse
        a training that has not written its final result. ``device`` and ``precision`` (default:
        the training's settings) are where and how its paths are scored; the checkpoint itself
        holds CPU tensors and opens on any device."""
        from budgetnas.training.config import TrainConfig
        from budgetnas.training.speed import fast_layout
        from budgetnas.training.supernet import load_supernet

        ckpt = supernet_checkpoint(path)
        net, state = load_supernet(ckpt)
        fast_layout(net)  # evaluations run faster so; extracted networks are built contiguous
        if finished and "result" not in state:
            raise ValueError(
                f"{ckpt} is not a finished training (no final result in the checkpoint); "
                f"finish it with `budgetnas train --resume --out {ckpt.parent}`"
            )
        train = TrainConfig.from_dict(state["train"])
        changes: dict[str, Any] = {}
        if data_dir is not None:
            changes["data_dir"] = data_dir
        if bn_batches is not None:
            changes["bn_batches"] = int(bn_batches)
        if device is not None:
            changes["device"] = device
        if precision is not None:
            changes["precision"] = precision
        if changes:
            train = dataclasses.replace(train, **changes)
        return cls(net, train, ckpt, state)

    def with_train(self, **changes) -> TrainedSupernet:
        """The same network with some training settings replaced (for example a run's own data
        settings: ``subset``, ``batch_size``, ``seed``, ``data_dir``, ``bn_batches``)."""
        return TrainedSupernet(
            self.net, dataclasses.replace(self.train, **changes), self.path, self.state
        )

    @property
    def space(self):
        return self.net.space

    @property
    def result(self) -> dict | None:
        """The training's final record (accuracies of its paths), if it finished."""
        return self.state.get("result")

    # ---- data -----------------------------------------------------------------------------
    def data_kwargs(self) -> dict[str, Any]:
        """Dataset options that shape the data like the network's input (synthetic data only)."""
        from budgetnas.training.supernet import data_kwargs

        return data_kwargs(self.train, self.space.config)

    def dataset_info(self):
        """The :class:`~budgetnas.data.DatasetInfo` of the training's dataset (shape, classes,
        normalization, splits)."""
        from budgetnas.data import dataset_info

        return dataset_info(self.train.data, **self.data_kwargs())

    def dataset(self, split: str, subset: int | None = None, augment: bool = False, seed=None):
        """Split ``split`` of the training's dataset (``subset`` images chosen with ``seed``,
        by default the training's seed)."""
        from budgetnas.data import get_dataset

        return get_dataset(
            self.train.data,
            split,
            data_dir=self.train.data_dir,
            augment=augment,
            subset=subset,
            seed=self.train.seed if seed is None else seed,
            **self.data_kwargs(),
        )

    def batches(
        self,
        split: str,
        subset: int | None,
        batch: int,
        shuffle: bool = False,
        seed: int = 0,
        data_seed: int | None = None,
    ) -> list:
        """The batches of :meth:`dataset` as a list (``seed`` orders a shuffled loader)."""
        from budgetnas.data import make_loader

        ds = self.dataset(split, subset, seed=data_seed)
        # host batches (they are stored, fingerprinted and reused), moved when scored
        return list(make_loader(ds, batch, shuffle=shuffle, seed=seed, pin_memory=False))

    def recal_batches(self) -> list:
        """The BatchNorm recalibration batches: the training's images in its batch size, in one
        fixed shuffled order (built once, shared by every evaluator)."""
        if self._recal is None:
            t = self.train
            self._recal = self.batches("search-train", t.subset, t.batch_size, True, t.seed)
        return self._recal

    # ---- evaluators -----------------------------------------------------------------------
    def evaluator(
        self,
        heldout: int | None,
        batch: int,
        *,
        passes: int = 1,
        seed: int = 0,
        sampling: str = "independent",
        bn_halves: bool = False,
        split: str = "heldout",
    ):
        """A :class:`~budgetnas.predictors.evaluator.SupernetEvaluator` on ``heldout`` images of
        ``split`` (None: all) in batches of ``batch`` (one random path per batch), after
        recalibrating on :meth:`recal_batches` with the training's ``bn_batches``."""
        from budgetnas.predictors.evaluator import SupernetEvaluator

        held = self.batches(split, heldout, batch)
        return SupernetEvaluator(
            self.net,
            self.recal_batches(),
            held,
            self.train.bn_batches,
            passes,
            seed=seed,
            sampling=sampling,
            bn_halves=bn_halves,
            runtime=self.runtime,
        )

    def report_evaluator(self, heldout: int | None, seed: int = 0, **kwargs):
        """The evaluator that scores single subnets for quality reports and re-ranking: several
        batches, each half of them after its own recalibration (``bn_halves``), so that the
        report's split-half noise ceiling counts the recalibration's noise too."""
        from budgetnas.predictors.reliability import report_batch_size

        n = heldout if heldout is not None else len(self.dataset("heldout"))
        return self.evaluator(n, report_batch_size(n), seed=seed, bn_halves=True, **kwargs)

    def teacher(self):
        """The heaviest path, recalibrated and frozen: the distillation teacher of fine-tuning."""
        from budgetnas.training.finetune import heaviest_teacher

        return heaviest_teacher(self.net, self.recal_batches(), self.train.bn_batches, self.runtime)

    # ---- scores ---------------------------------------------------------------------------
    def score(self, arch_text: str, split: str = "heldout", subset: int | None = None) -> dict:
        """One-shot accuracy of one path (``arch_text``, see :func:`parse_arch`) on ``subset``
        images of ``split`` (chosen with seed 0; None: all), after recalibrating BatchNorm on
        the training's images with its ``bn_batches``: the JSON-ready record of ``budgetnas
        eval`` (arch, split, images, accuracy, params, macs, bn_batches)."""
        from budgetnas.data import make_loader
        from budgetnas.training.evaluate import one_shot_accuracy

        cfg, space = self.train, self.space
        arch = parse_arch(space, arch_text)
        # loaders, not lists: only the first bn_batches recalibration batches are drawn
        recal = self.dataset("search-train", cfg.subset)
        evald = self.dataset(split, subset, seed=0)  # a subset chosen with seed 0, as always
        dev = self.runtime.device
        acc = one_shot_accuracy(
            self.net,
            arch,
            make_loader(recal, cfg.batch_size, shuffle=True, seed=cfg.seed, device=dev),
            make_loader(evald, cfg.eval_batch_size, shuffle=False, device=dev),
            cfg.bn_batches,
            self.runtime,
        )
        return {
            "arch": space.to_string(arch),
            "split": split,
            "images": len(evald),
            "accuracy": acc,
            "params": space.count_params(arch),
            "macs": space.count_macs(arch),
            "bn_batches": cfg.bn_batches,
            "device": str(dev),
            "precision": self.runtime.precision,
        }
