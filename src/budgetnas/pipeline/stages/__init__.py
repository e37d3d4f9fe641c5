"""The stages of ``budgetnas run``, each a function of the run's :class:`RunContext`.

Each stage reuses what the run directory already holds (so an interrupted run resumes at the
stage it stopped): :func:`supernet_stage` (train or reuse the supernet), :func:`table_stage` (the
latency table when a latency budget is given), :func:`predictor_stage` (the accuracy predictor),
:func:`search_stage` (search and the closed loop), :func:`finetune_stage` (fine-tuning and test
accuracy) and :func:`export_stage` (TorchScript and ONNX), then :func:`pareto_stage` (the best network per
extra limit) and :func:`compare_stage` (the found network beside reference networks).
"""

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "compare_latency",
    "compare_stage",
    "export_stage",
    "finetune_stage",
    "pareto_stage",
    "predictor_stage",
    "search_stage",
    "supernet_stage",
    "table_stage",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "supernet_stage": "budgetnas.pipeline.stages.supernet",
        "table_stage": "budgetnas.pipeline.stages.tables",
        "predictor_stage": "budgetnas.pipeline.stages.predictor",
        "search_stage": "budgetnas.pipeline.stages.search",
        "finetune_stage": "budgetnas.pipeline.stages.finetune",
        "export_stage": "budgetnas.pipeline.stages.export",
        "pareto_stage": "budgetnas.pipeline.stages.compare",
        "compare_stage": "budgetnas.pipeline.stages.compare",
        "compare_latency": "budgetnas.pipeline.stages.compare",
    },
)
__dir__ = lazy_dir(__name__)
