"""Counts of any ``nn.Module``: moved to :mod:`budgetnas.costs.modules`, re-exported here."""

from __future__ import annotations

from budgetnas.costs.modules import (
    Counts,
    count,
    layer_macs,
    register_module_counter,
    torch_flops,
)

__all__ = ["Counts", "count", "layer_macs", "register_module_counter", "torch_flops"]
