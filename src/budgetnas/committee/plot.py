"""The accuracy-vs-mean-latency picture of a committee result: every candidate alone, and the
best ensemble and cascade chosen at each budget, at their measured latency on the test split."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_committees"]


def plot_committees(result, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs = [c["measured_mean_latency_ms"] for c in result.candidates]
    ys = [100 * c["test_acc"] for c in result.candidates]
    ax.scatter(xs, ys, color="0.4", label="single found networks", zorder=3)
    rows = result.sweep or [{"limit": None, "chosen": result.chosen}]
    for kind, style in (("ensemble", "s--"), ("cascade", "o-")):
        pts = sorted(
            (
                r["chosen"][kind]["test"]["measured_mean_latency_ms"],
                100 * r["chosen"][kind]["test"]["accuracy"],
            )
            for r in rows
            if kind in r.get("chosen", {})
        )
        if pts:
            ax.plot(*zip(*pts, strict=True), style, label=f"best {kind} at each budget", zorder=2)
    ax.set_xlabel("mean latency per image, ms (measured, batch 1, test images)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("committees chosen on the held-out split")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
