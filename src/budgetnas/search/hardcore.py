"""HardCoRe-NAS: block-coordinate Frank-Wolfe driven by supernet gradients (docs/methods/search.md).

The search variable ``x`` is a point of the product of simplices, one probability vector per
one-hot group of the space (for :class:`~budgetnas.spaces.mobilenet.MobileNetSpace`: alpha, the 20
block groups of 12 options, and beta, the 5 depth groups of 3). Every budget's bilinear form is
linear in alpha for fixed beta and in beta for fixed alpha, so the blocks alternate
``alpha, beta, alpha, ...`` (other spaces: the colouring of :func:`~.relaxation.color_groups`).

One step:

1. **Hard path.** For each group ``g`` draw ``h_g = onehot(argmax_c(log x_g[c] + G_c))`` with
   ``G_c`` i.i.d. standard Gumbel (the Gumbel-max trick: ``h_g ~ Categorical(x_g)`` exactly;
   an option with ``x = 0`` is never drawn).
2. **Straight-through gates.** ``a = h + (x - stopgrad(x))``: its value is exactly ``h`` and its
   Jacobian with respect to ``x`` is the identity (the straight-through estimator with the
   identity as the soft relaxation; HardCoRe-NAS's public code likewise takes the gradient of the
   loss with respect to its hard one-hot attention vector).
3. **Supernet loss.** A validation batch of ``batch_size`` images (drawn at random from the given
   batches) goes through :meth:`~budgetnas.supernet.MobileNetSupernet.forward_gated`: each block
   outputs ``sum_c a[c] * branch_c`` (+ skip) and each stage ``sum_d a[d] * (output after block
   d)``. The value is the hard path's; ``g = dL/da`` (cross-entropy, batch mean) has an entry for
   every option, the derivative of mixing that option into the sampled path (options of blocks
   beyond the sampled depth get 0). BatchNorm uses batch statistics (a one-shot supernet's running
   statistics mix all paths), dropout is off, weights are frozen, and the supernet's parameters,
   buffers and modes are restored afterwards.
4. **Momentum.** ``m <- 0.9 m + 0.1 g`` on every entry (``m = g`` at the first step).
5. **Frank-Wolfe step on the block B.** ``v = argmin_v m_B @ v`` over the simplices of B subject
   to every budget with the other block fixed (an LP, HiGHS), then ``x_B <- x_B + gamma (v - x_B)``.

Without a supernet the same estimator runs on the problem's objective form (``L(h) =
-objective(h)``, so ``g = -grad objective(h)``): for a loss multilinear in the groups, as a
bilinear predictor is, ``E[g]`` is exactly the gradient of ``E_h[L(h)]`` at ``x``. That mode exists
for the shared solver suite and for tests; the result's status says which gradients drove it.

Feasibility: the start is the most uniform feasible point (as in ``frank-wolfe``); ``x`` and ``v``
are feasible and the budgets linear in the block, so every iterate is, with budgets taken as
``form + r_max <= B``. A step that an LP tolerance pushes over a budget is halved until it is not
(or skipped). Each iterate's ``form + r_max`` per budget is in the result's ``history``. The end
point is rounded as ``frank-wolfe`` rounds (greedy, most probable feasible option per group, MILP
inside the support when stuck), and :meth:`Solver.solve` checks the architecture exactly.

Defaults: 200 steps, ``gamma = 20 / steps`` (the reference's 0.002 x 10,000 keeps the same
``gamma * steps = 20``; 0.1 at 200 steps), batches of 16, momentum 0.9.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, Solver
from budgetnas.search.program import drop_intra_group
from budgetnas.search.relaxation import (
    RelaxedBudget,
    block_indices,
    block_lp,
    color_groups,
    discretize,
    feasible_start,
    is_feasible,
    relaxed_budgets,
)
from budgetnas.spaces._base import SearchSpace

__all__ = [
    "FormGradient",
    "HardcoreSolver",
    "SupernetGradient",
    "coordinate_blocks",
    "sample_path",
]


def sample_path(space: SearchSpace, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hard one-hot path, each group drawn from its distribution in ``x`` by Gumbel-max."""
    with np.errstate(divide="ignore"):
        logits = np.log(np.maximum(x, 0.0))
    noisy = logits + rng.gumbel(size=x.shape)
    h = np.zeros_like(x)
    for g in range(space.n_groups):
        sl = space.group_slice(g)
        h[sl.start + int(np.argmax(noisy[sl]))] = 1.0
    return h


def coordinate_blocks(
    space: SearchSpace, forms: list[QuadraticForm]
) -> list[tuple[str, list[int]]]:
    """``[("alpha", block groups), ("beta", depth groups)]`` for the mobilenet space when every
    form is linear in each of them; otherwise the colouring of :func:`color_groups`."""
    from budgetnas.spaces.mobilenet import MAX_DEPTH, N_STAGES, MobileNetSpace

    if isinstance(space, MobileNetSpace):
        alpha = [space.block_group(s, b) for s in range(N_STAGES) for b in range(MAX_DEPTH)]
        beta = [space.depth_group(s) for s in range(N_STAGES)]
        block_of = np.zeros(space.n_groups, dtype=int)
        block_of[beta] = 1
        g = space.group_of
        if all(not np.any(block_of[g[f.pair_i]] == block_of[g[f.pair_j]]) for f in forms):
            return [("alpha", alpha), ("beta", beta)]
    return [(f"block{k}", b) for k, b in enumerate(color_groups(space, forms))]


class SupernetGradient:
    """The straight-through gradient of a validation loss through a supernet (module doc, 1-3):
    ``(x, hard path h) -> (loss at h, dL/dh)``, inside :meth:`session`.

    ``batches`` are ``(images, labels)`` pairs of any size; they are pooled once and every call
    draws ``batch_size`` images from the pool at random.
    """

    def __init__(
        self,
        supernet,
        batches: Iterable,
        batch_size: int = 16,
        loss: Callable | None = None,
        seed: int | None = 0,
    ):
        import torch

        xs, ys = zip(*batches, strict=True) if batches else ((), ())
        if not xs:
            raise ValueError("hardcore needs validation batches to run through the supernet")
        self.supernet = supernet
        self.device = next(supernet.parameters()).device
        self.images = torch.cat([torch.as_tensor(x) for x in xs]).to(self.device)
        self.labels = torch.cat([torch.as_tensor(y) for y in ys]).to(self.device)
        self.batch_size = min(int(batch_size), len(self.images))
        self.loss = loss or torch.nn.functional.cross_entropy
        self.rng = np.random.default_rng(seed)

    @contextmanager
    def session(self):
        """Weights frozen, BatchNorm on batch statistics, dropout off; everything restored."""
        import torch

        net = self.supernet
        modes = [(m, m.training) for m in net.modules()]
        flags = [(p, p.requires_grad) for p in net.parameters()]
        saved = [(b, b.detach().clone()) for b in net.buffers()]
        net.eval()
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.train()
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield self
        finally:
            with torch.no_grad():
                for b, value in saved:
                    b.copy_(value)
            for p, flag in flags:
                p.requires_grad_(flag)
            for m, mode in modes:
                m.training = mode

    def __call__(self, x: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray]:
        import torch

        pick = self.rng.choice(len(self.images), size=self.batch_size, replace=False)
        pick = torch.as_tensor(np.sort(pick), device=self.device)
        soft = torch.as_tensor(x, dtype=torch.float32, device=self.device).requires_grad_(True)
        hard = torch.as_tensor(h, dtype=torch.float32, device=self.device)
        gates = hard + (soft - soft.detach())  # value exactly h, identity Jacobian
        logits = self.supernet.forward_gated(self.images[pick], gates)
        loss = self.loss(logits, self.labels[pick])
        (grad,) = torch.autograd.grad(loss, soft)
        return float(loss.detach()), grad.detach().cpu().double().numpy()


class FormGradient:
    """The same estimator on a quadratic form: ``L(h) = -form(h)``, ``dL/dh = -grad form(h)``."""

    def __init__(self, form: QuadraticForm):
        self.form = form

    @contextmanager
    def session(self):
        yield self

    def __call__(self, x: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray]:
        return -self.form.value(h), -self.form.gradient(h)


@register_solver("hardcore")
class HardcoreSolver(Solver):
    """HardCoRe-NAS: stochastic block-coordinate Frank-Wolfe on supernet gradients (module doc).

    ``supernet`` (a :class:`~budgetnas.supernet.MobileNetSupernet`) and ``batches`` (validation
    ``(images, labels)`` pairs) drive the search; without them the problem's objective form does.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("hardcore", steps=100)  # add supernet=..., batches=...
    """

    name = "hardcore"

    def __init__(
        self,
        steps: int = 200,
        gamma: float | None = None,
        batch_size: int = 16,
        momentum: float = 0.9,
        seed: int | None = 0,
        supernet=None,
        batches: Iterable | None = None,
        loss: Callable | None = None,
        progress: bool | None = None,
        tol: float = 1e-9,
    ):
        if steps < 0:
            raise ValueError("steps must be >= 0")
        if gamma is not None and not 0.0 < gamma <= 1.0:
            raise ValueError("gamma must be in (0, 1]")
        if not 0.0 <= momentum < 1.0:
            raise ValueError("momentum must be in [0, 1)")
        if supernet is not None and batches is None:
            raise ValueError("hardcore with a supernet needs validation batches")
        self.steps = steps
        self.gamma = gamma
        self.batch_size = batch_size
        self.momentum = momentum
        self.seed = seed
        self.supernet = supernet
        self.batches = batches
        self.loss = loss
        self.progress = progress
        self.tol = tol

    @property
    def step_size(self) -> float:
        return self.gamma if self.gamma is not None else min(1.0, 20.0 / max(1, self.steps))

    def _gradient(self, problem: Problem) -> tuple[Any, str]:
        if self.supernet is not None:
            theirs, ours = self.supernet.space, problem.space
            if theirs.name != ours.name or getattr(theirs, "config", None) != getattr(
                ours, "config", None
            ):
                raise ValueError(f"the supernet is of {theirs!r}; the problem is on {ours!r}")
            source = SupernetGradient(
                self.supernet, list(self.batches), self.batch_size, self.loss, self.seed
            )
            return source, "supernet gradients"
        if problem.objective is None:
            raise ValueError(
                "hardcore needs a supernet and validation batches (or an objective form)"
            )
        return FormGradient(drop_intra_group(problem.objective, problem.space)), (
            "objective-form gradients (no supernet given)"
        )

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        from tqdm import tqdm

        space = problem.space
        budgets = relaxed_budgets(problem, self.name)
        margins = [c.cost.residual_max for c in problem.constraints]
        blocks = coordinate_blocks(space, [b for b, _ in budgets])
        gradient, source = self._gradient(problem)
        x = feasible_start(space, budgets, self.tol, self.name)
        rng = np.random.default_rng(self.seed)
        gamma = self.step_size
        history = [self._record(-1, "start", None, 0.0, x, budgets, margins)]
        momentum = None
        halvings = 0
        bar = tqdm(
            range(self.steps),
            desc="hardcore",
            file=sys.stderr,
            leave=False,
            disable=(not self.progress) if self.progress is not None else None,
        )
        with gradient.session():
            for t in bar:
                name, block = blocks[t % len(blocks)]
                loss, g = gradient(x, sample_path(space, x, rng))
                if momentum is None:
                    momentum = g
                else:
                    momentum = self.momentum * momentum + (1.0 - self.momentum) * g
                idx = block_indices(space, block)
                v = block_lp(space, block, idx, -momentum[idx], x, budgets)
                step, new = self._feasible_step(x, idx, v, gamma, budgets)
                halvings += step != gamma
                x = new
                history.append(self._record(t, name, loss, step, x, budgets, margins))
                if t % 10 == 0:
                    bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        arch, rounding = discretize(
            space, QuadraticForm(0.0, x.copy()), budgets, x, self.tol, self.name
        )
        self.x_ = x
        status = f"{self.steps} steps on {source}, gamma {gamma:g}, rounding: {rounding}"
        if halvings:
            status += f", {halvings} steps shortened to stay feasible"
        return arch, {"status": status, "history": history}

    def _feasible_step(self, x, idx, v, gamma, budgets) -> tuple[float, np.ndarray]:
        """``x + gamma (v - x)`` on the block, gamma halved while an LP tolerance breaks a budget."""
        for _ in range(30):
            new = x.copy()
            new[idx] = x[idx] + gamma * (v - x[idx])
            if is_feasible(budgets, new, self.tol):
                return gamma, new
            gamma /= 2
        return 0.0, x

    @staticmethod
    def _record(t, block, loss, step, x, budgets: list[RelaxedBudget], margins) -> dict:
        return {
            "step": t,
            "block": block,
            "loss": loss,
            "gamma": step,
            # each budget's relaxed cost bound, form(x) + r_max, comparable with its limit
            "budgets": [form.value(x) + r for (form, _), r in zip(budgets, margins, strict=True)],
        }
