"""What a registered supernet ships: the weights of a finished training, and the predictor's
stored evaluations on it.

:func:`pack_supernet` writes a finished ``supernet.pt`` without what only a training in progress
needs (optimizer, schedule, RNG states, the stage-A teacher): a valid supernet checkpoint that
every command opens, several times smaller. :func:`export_records` / :func:`import_records` move
the store records that depend only on the supernet's weights and the predictor's settings (the
expectations and one-shot scores, keyed by the evaluator's fingerprint) from one store to
another as a gzipped JSON file; a run whose settings differ simply finds no matching key and
measures its own.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

__all__ = ["SHIPPED_KINDS", "export_records", "import_records", "pack_supernet"]

#: store kinds of evaluations that depend only on the weights and the evaluation settings
SHIPPED_KINDS = ("binas", "oneshot")
_RECORDS_FORMAT = "budgetnas-records"
_DROPPED = ("optimizer", "scheduler", "scaler", "rng", "teacher")


def pack_supernet(checkpoint: str | Path, out: str | Path) -> dict:
    """Write the finished training ``checkpoint`` to ``out`` without its resume state; returns
    the checkpoint dict written. A training without its final result is refused."""
    from budgetnas.models.checkpoint import save_atomic
    from budgetnas.training.supernet import read_checkpoint
    from budgetnas.training.trained import supernet_checkpoint

    src = supernet_checkpoint(checkpoint)
    ckpt = read_checkpoint(src)
    if "result" not in ckpt:
        raise ValueError(
            f"{src} is not a finished training (no final result); finish it with "
            f"`budgetnas train --resume --out {src.parent}` before packing it"
        )
    packed = {k: v for k, v in ckpt.items() if k not in _DROPPED}
    packed["teacher"] = None
    packed["model"] = {k: v.contiguous() for k, v in ckpt["model"].items()}
    packed["packed_from"] = str(src.name)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_atomic(packed, out)
    return packed


def export_records(store, out: str | Path, kinds=SHIPPED_KINDS) -> int:
    """Write the records of ``kinds`` of ``store`` to ``out`` (gzipped JSON); returns how many."""
    from budgetnas.files import atomic_path

    records = {kind: dict(store.items(kind)) for kind in kinds}
    text = json.dumps({"format": _RECORDS_FORMAT, "records": records}, sort_keys=True)
    # no name or time stamp in the gzip header: the same records give the same bytes (checksum)
    with atomic_path(out) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(text.encode())
    return sum(len(r) for r in records.values())


def import_records(path: str | Path, store) -> int:
    """Add the records of the file ``path`` that ``store`` does not hold; returns how many."""
    try:
        with gzip.open(path, "rt") as f:
            body = json.load(f)
    except (OSError, EOFError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable records file ({err})") from None
    if not isinstance(body, dict) or body.get("format") != _RECORDS_FORMAT:
        raise ValueError(f"{path} is not a budgetnas records file")
    added = 0
    for kind, items in body["records"].items():
        if kind not in SHIPPED_KINDS:
            raise ValueError(f"{path} holds records of kind {kind!r}, which never travel")
        new = {k: v for k, v in items.items() if (kind, k) not in store}
        if new:
            store.put_many(kind, new)
        added += len(new)
    return added
