"""Stage 5: fine-tuning of the found network with KL distillation, and its test accuracy."""

from __future__ import annotations

import hashlib

__all__ = ["finetune", "finetune_stage"]


def finetune_stage(ctx, arch):
    """:func:`finetune` with the run's settings, cached in ``finetuned-<key>.pt`` (the key hashes
    the architecture and the run's configuration)."""
    from budgetnas.config import to_dict
    from budgetnas.models.checkpoint import save_atomic
    from budgetnas.supernet import extract

    key = hashlib.sha256(f"{arch}/{to_dict(ctx.cfg)}".encode()).hexdigest()[:12]
    path = ctx.out / f"finetuned-{key}.pt"
    if path.is_file():
        cached = _read_cache(path, extract(ctx.supernet().net, arch))
        if cached is not None:
            ctx.log(f"reusing the fine-tuned network {path.name}")
            return cached
        ctx.log(f"{path.name} is unreadable (a cache); fine-tuning again")
    from budgetnas.devices import state_on_cpu

    child, accs = finetune(ctx, arch)
    save_atomic({"model": state_on_cpu(child.state_dict()), "accs": accs}, path)
    return child, accs


def _read_cache(path, child):
    """``(network, accs)`` from a fine-tuning cache, or ``None`` when the file is truncated,
    corrupt, refused (it would run code) or does not fit ``child``: then it is simply redone."""
    from budgetnas.safeio import load_weights

    try:
        saved = load_weights(path, "fine-tuning cache", "it is redone")
        child.load_state_dict(saved["model"])
        accs = saved["accs"]
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError):
        return None
    return child.eval(), accs


def finetune(ctx, arch, epochs: int | None = None, images: int | None = None, evaluator=None):
    """Extract ``arch``, fine-tune it with KL distillation from the heaviest path and measure it:
    ``(network, {oneshot_heldout_acc, finetuned_heldout_acc, test_acc})``.

    ``epochs`` and ``images`` (training images) default to the run's fine-tuning settings;
    ``evaluator`` (recalibration and held-out batches) to the predictor's.
    """
    from budgetnas.pipeline.stages.search import predictor_evaluator
    from budgetnas.supernet import extract
    from budgetnas.training.evaluate import accuracy, one_shot_accuracy
    from budgetnas.training.finetune import distill_finetune

    cfg, trained = ctx.cfg, ctx.supernet()
    ev = predictor_evaluator(ctx) if evaluator is None else evaluator
    epochs = cfg.finetune.epochs if epochs is None else epochs
    images = cfg.finetune.images if images is None else images
    test = ctx.once("test", lambda: trained.batches("test", None, cfg.predictor.batch))
    rt = trained.runtime  # the run's device and precision
    oneshot = one_shot_accuracy(
        trained.net, arch, ev.recal_batches, ev.eval_batches, trained.train.bn_batches, rt
    )
    child = extract(trained.net, arch).eval()
    teacher = ctx.once("teacher", trained.teacher)
    distill_finetune(
        child,
        teacher,
        trained.dataset("search-train", images, augment=True),
        epochs,
        trained.train.batch_size,
        cfg.finetune.lr,
        seed=trained.train.seed,
        max_steps=trained.train.max_steps,
        runtime=rt,
    )
    accs = {
        "oneshot_heldout_acc": oneshot,
        "finetuned_heldout_acc": accuracy(child, ev.eval_batches, runtime=rt),
        "test_acc": accuracy(child, test, runtime=rt),
    }
    return child, accs
