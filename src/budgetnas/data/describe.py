"""What budgetnas makes of a dataset, before anything trains: ``budgetnas data info DATA``.

:func:`describe` gathers the :class:`~budgetnas.data.DatasetInfo` (shape, classes, split sizes,
normalization, how the splits were made) and the space preset ``--space-preset auto`` would
choose for it; for an image folder also the cache it was decoded into and the files skipped.
:func:`describe_text` writes it for a terminal.

Example:
    >>> rec = describe("synthetic")
    >>> rec["image_size"], rec["num_classes"], rec["preset"]
    (16, 4, '16px-rgb-4cls')
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

__all__ = ["describe", "describe_text"]


def describe(name: str, **options) -> dict[str, Any]:
    """The record of dataset ``name`` (``options``: ``image_size``, ``strict`` of folder data;
    the first call on a folder decodes it into its cache)."""
    from budgetnas.data import dataset_info
    from budgetnas.data.sources import open_prepared, parse_name
    from budgetnas.spaces.mobilenet import preset_for

    kind = (parse_name(name) or (None,))[0]
    info, data = (
        (dataset_info(name, **options), None) if kind is None else open_prepared(name, **options)
    )
    rec = asdict(info)
    rec["classes"] = list(info.classes) if info.classes else None
    rec["notes"] = list(info.notes)
    rec["preset"] = preset_for(info.image_size, info.channels, info.num_classes).name
    if kind == "folder":
        rec["cache"] = str(data.folder)
        rec["skipped"] = [list(b) for b in data.meta.get("bad_files", [])]
    return rec


def describe_text(rec: dict[str, Any]) -> str:
    """``rec`` (:func:`describe`) as a few lines of text."""
    kind = "grayscale" if rec["channels"] == 1 else "RGB"
    side = rec["image_size"]
    classes = rec.get("classes") or [str(i) for i in range(rec["num_classes"])]
    shown = ", ".join(classes[:20]) + (f" (+{len(classes) - 20} more)" if len(classes) > 20 else "")
    lines = [
        f"{rec['name']}: {side}x{side} {kind}, {rec['num_classes']} classes: {shown}",
        f"splits: {rec['n_train']:,} training images ({rec['n_heldout']:,} of them held out for "
        f"the search), {rec['n_test']:,} test images",
        "normalization: mean "
        + ", ".join(f"{m:.4f}" for m in rec["mean"])
        + "; std "
        + ", ".join(f"{s:.4f}" for s in rec["std"]),
        f"space preset for --space-preset auto: {rec['preset']}",
    ]
    lines += [f"note: {n}" for n in rec.get("notes") or []]
    if rec.get("cache"):
        lines.append(f"cache: {rec['cache']}")
    skipped = rec.get("skipped") or []
    if skipped:
        lines.append(f"skipped {len(skipped)} file(s) that could not be decoded:")
        lines += [f"  {path}: {why}" for path, why in skipped[:10]]
    return "\n".join(lines)
