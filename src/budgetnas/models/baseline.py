"""Train a benchmark network (to prune later) as a library call: :func:`train_baseline`.

:class:`BaselineTrainConfig` holds the settings of ``budgetnas train-baseline`` (one flag per
field), :class:`BaselineTrainResult` what it writes as ``baseline.json``. The network from
:mod:`budgetnas.models` is trained with cross-entropy (:func:`budgetnas.models.train
.train_classifier`) and written to ``out``:

* ``<model>_<data>.pt``: a budgetnas checkpoint (model name, constructor kwargs, weights and
  the result's training record as ``meta``; :func:`budgetnas.models.checkpoint.load_network`);
* ``baseline.json`` (:meth:`BaselineTrainResult.to_json`); ``config.toml`` (the resolved
  configuration: ``budgetnas train-baseline --config OUT/config.toml`` repeats the run);
* ``train_state.pt`` after every epoch, from which ``resume=True`` continues exactly (same
  weights and losses as a run that never stopped), refusing other settings.

Under ``torchrun`` the training is data-parallel (:mod:`budgetnas.distributed`): each rank
trains on its share of every batch, rank 0 alone logs and writes these files, and a run resumes
with any number of processes.

Importing this module does not import torch.

Example:
    >>> from budgetnas.config import from_dict, load_toml_text, resolve, to_toml
    >>> cfg = resolve(BaselineTrainConfig, {"model": "resnet8", "epochs": 1, "out": "runs/base"})
    >>> cfg.data, cfg.batch_size, cfg.width
    ('fashion-mnist', 128, None)
    >>> from_dict(BaselineTrainConfig, load_toml_text(to_toml(cfg))) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.config import option
from budgetnas.data import resolved_name
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

__all__ = [
    "STATE",
    "STATE_FORMAT",
    "BaselineTrainConfig",
    "BaselineTrainResult",
    "train_baseline",
]

STATE = "train_state.pt"
STATE_FORMAT = "budgetnas-train-state"

# the settings a resumed training must share with the saved one (not the device: a training
# continues on any device; states saved before the precision existed resume as they were)
_RESUME_SETTINGS = (
    "data", "model", "width", "epochs", "subset", "batch_size", "lr", "seed", "precision",
)  # fmt: skip


@dataclass
class BaselineTrainConfig:
    """Settings of :func:`train_baseline` (``out`` is required)."""

    data: str = option(
        "fashion-mnist",
        "fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR",
    )
    data_dir: str | None = option(None, "folder holding the dataset folders")
    image_size: int | None = option(
        None, "folder data: image side in pixels (none: the most common size in the folder)"
    )
    strict: bool = option(
        False,
        "folder data: a file that cannot be decoded is an error (default: warned and skipped)",
    )
    model: str = option("resnet20", "a name from budgetnas.models")
    width: int | None = option(None, "base width (resnet) if not default")
    epochs: int = option(5, "training epochs")
    subset: int | None = option(None, "train on N images of the train split")
    eval_subset: int | None = option(None, "test on N test images")
    batch_size: int = option(128, "training batch size")
    lr: float = option(0.05, "learning rate (SGD, cosine schedule)")
    seed: int = option(0, "seed of the initialisation, data subsets and shuffling")
    threads: int = option(0, "torch CPU threads (0: every core)")
    out: str | None = option(None, "(required) output folder")
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def __post_init__(self) -> None:
        self.data = resolved_name(self.data)  # a folder's path absolute: saved configs reopen it


@dataclass
class BaselineTrainResult:
    """What one baseline training wrote: ``to_json()`` is ``baseline.json`` (same keys, same
    order); the fields after ``kwargs`` are the checkpoint's ``meta``.

    Example:
        >>> res = BaselineTrainResult("b/resnet8_synthetic.pt", "resnet8", {"width": 4},
        ...                           "synthetic", 1, 64, 0.5, 40, 0, 1.2, [1.3])
        >>> BaselineTrainResult.from_json(res.to_json()) == res
        True
        >>> res.summary()
        'test accuracy 0.5000 on 40 images; checkpoint b/resnet8_synthetic.pt'
    """

    checkpoint: str = ""
    model: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    epochs: int = 0
    subset: int | None = None
    test_accuracy: float = 0.0
    test_images: int = 0
    seed: int = 0
    train_seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """The training record saved in the checkpoint (everything after ``kwargs``)."""
        return {
            k: v for k, v in self.to_json().items() if k not in ("checkpoint", "model", "kwargs")
        }

    def to_json(self) -> dict[str, Any]:
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineTrainResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _copy(v) for k, v in data.items() if k in names})

    def summary(self) -> str:
        """The line ``budgetnas train-baseline`` ends with."""
        return (
            f"test accuracy {self.test_accuracy:.4f} on {self.test_images} images; "
            f"checkpoint {self.checkpoint}"
        )


def _copy(value: Any) -> Any:
    return type(value)(value) if isinstance(value, dict | list) else value


def train_baseline(
    cfg: BaselineTrainConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> BaselineTrainResult:
    """Train ``cfg.model`` on ``cfg.data`` and write the files listed in the module's docstring.
    ``resume``: continue from ``out/train_state.pt`` when it exists (its settings must match);
    ``progress`` shows a bar per epoch on stderr."""
    import torch

    from budgetnas.config import to_toml
    from budgetnas.data import data_options, dataset_info, get_dataset, make_loader
    from budgetnas.devices import Runtime
    from budgetnas.models import build_model
    from budgetnas.models.checkpoint import save_checkpoint
    from budgetnas.models.train import train_classifier
    from budgetnas.training.evaluate import accuracy
    from budgetnas.training.speed import fast_layout, plain_layout, use_threads

    if cfg.out is None:
        raise ValueError("missing required setting: --out (or in the --config file)")
    if cfg.epochs < 0:
        raise ValueError("--epochs must be >= 0")
    from budgetnas.distributed import Sharded, World

    world = World.from_env()  # torchrun: one rank of a data-parallel training
    runtime = Runtime.resolve(world.device(cfg.device), cfg.precision)
    world.start(runtime.device)
    if not world.main:
        log = _quiet
        progress = False
    use_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    options = data_options(cfg)
    info = dataset_info(cfg.data, **options)
    kwargs: dict[str, Any] = {"in_channels": info.channels, "num_classes": info.num_classes}
    if cfg.width is not None:
        kwargs["width"] = cfg.width
    # built on the CPU (the same initial weights on every device and rank), then moved
    net = fast_layout(build_model(cfg.model, **kwargs).to(runtime.device), runtime.device)
    train = get_dataset(
        cfg.data, "train", cfg.data_dir, augment=True, subset=cfg.subset, seed=cfg.seed, **options
    )
    test = get_dataset(
        cfg.data, "test", cfg.data_dir, subset=cfg.eval_subset, seed=cfg.seed, **options
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if world.main:
        (out / "config.toml").write_text(to_toml(cfg))
    settings = {k: getattr(cfg, k) for k in _RESUME_SETTINGS}
    state, save_state = _resumable(resume, cfg.epochs, net, out / STATE, settings, log)
    before = float((state or {}).get("seconds", 0.0))  # the epochs of earlier calls
    t0 = time.time()
    trained_s = [before]  # the training's time up to its last epoch, as saved with the state

    def on_epoch_end(fit_state: dict) -> None:
        trained_s[0] = before + time.time() - t0
        if world.main:
            save_state({**fit_state, "seconds": trained_s[0]})
        world.barrier()

    # every rank draws the same global batch (same seed) and trains on its share of it
    loader = make_loader(train, cfg.batch_size, shuffle=True, seed=cfg.seed, device=runtime.device)
    losses = train_classifier(
        world.wrap(net, runtime.device),
        Sharded(loader, world),
        cfg.epochs,
        lr=cfg.lr,
        log=log,
        progress=progress,
        on_epoch_end=on_epoch_end,
        resume=state,
        runtime=runtime,
    )
    # the training's own time over every call, through its last epoch: a finished training
    # finished again reads the same
    train_s = trained_s[0]
    plain_layout(net)  # trained channels-last (faster on CPU), saved and measured contiguous
    acc = accuracy(
        net, make_loader(test, 256, shuffle=False, device=runtime.device), runtime=runtime
    )
    net.to("cpu")  # saved from the CPU: the checkpoint loads anywhere
    path = out / f"{cfg.model}_{cfg.data}.pt"
    result = BaselineTrainResult(
        str(path), cfg.model, kwargs, cfg.data, cfg.epochs, cfg.subset, acc, len(test),
        cfg.seed, round(train_s, 1), losses,
    )  # fmt: skip
    if world.main:
        save_checkpoint(path, net, cfg.model, kwargs, result.meta())
        (out / "baseline.json").write_text(json.dumps(result.to_json(), indent=2))
    world.barrier()
    world.stop()
    return result


def _quiet(_msg: str) -> None:
    """The log of ranks other than 0."""


def _resumable(resume: bool, epochs: int, net, state_path: Path, settings: dict, log):
    """The saved training state to continue from (``None``: start afresh; the weights are loaded
    into ``net``) and the ``on_epoch_end`` that saves it after every epoch."""
    from budgetnas.devices import state_on_cpu
    from budgetnas.models.checkpoint import save_atomic
    from budgetnas.safeio import load_weights

    state = None
    if resume and state_path.is_file():
        what = "budgetnas train-baseline state"
        remedy = "delete it and train again without --resume"
        saved = load_weights(state_path, what, remedy)
        if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT:
            raise ValueError(f"{state_path} is not a {what}: {remedy}")
        diff = {k: (v, settings[k]) for k, v in saved["settings"].items() if settings[k] != v}
        if diff:
            raise ValueError(f"cannot resume {state_path}: settings differ (saved, now): {diff}")
        net.load_state_dict(saved["model"])
        state = saved["fit"]
        log(f"resuming after epoch {state['epoch']} of {epochs}")
    elif resume:
        log(f"no {STATE} in {state_path.parent}; starting afresh")

    def save_state(fit_state: dict) -> None:
        save_atomic(
            {
                "format": STATE_FORMAT,
                "settings": settings,
                "model": state_on_cpu(net.state_dict()),
                "fit": state_on_cpu(fit_state),
            },
            state_path,
        )

    return state, save_state
