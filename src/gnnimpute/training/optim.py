"""Adam as one fused kernel per step, without `torch.optim`.

Two costs made this worth its few lines. The first use of `torch.optim` imports `torch._dynamo`
(about 2 s of CPU on every run, for a decorator). And on the CPU its default step makes about ten
passes over every weight: with two 14,466 x 256 gene heads that was a third of a Baron epoch.
`torch._fused_adam_` is the kernel behind `torch.optim.Adam(fused=True)`: the same update (L2
weight decay added to the gradient, bias-corrected moments), one pass, on the CPU and CUDA.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """`torch.optim.Adam(params, lr, weight_decay=..., fused=True)`, step for step.

    Only what training uses: one parameter group, no AMSGrad, no state dict. Parameters without
    a gradient in a step are left alone, as torch.optim does. A sparse gradient (`gather_rows`)
    is added into a dense buffer kept between steps: the same step, without a fresh full-size
    gradient each time.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        *,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._buffers: dict[int, torch.Tensor] = {}  # dense gradients of sparse ones, reused

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        params, grads, means, squares, steps = [], [], [], [], []
        for p in self.params:
            if p.grad is None:
                continue
            state = self._state.get(id(p))
            if state is None:  # torch.optim's fused state: zero moments, a float32 step count
                state = self._state[id(p)] = (
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros((), dtype=torch.float32, device=p.device),
                )
            params.append(p)
            grads.append(self._dense(p) if p.grad.is_sparse else p.grad)
            means.append(state[0])
            squares.append(state[1])
            steps.append(state[2])
        if not params:
            return
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params, grads, means, squares, [], steps,
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
            weight_decay=self.weight_decay, eps=self.eps, amsgrad=False, maximize=False,
            grad_scale=None, found_inf=None,
        )  # fmt: skip

    def _dense(self, p: torch.nn.Parameter) -> torch.Tensor:
        """p's sparse gradient, densified into a buffer allocated once."""
        dense = self._buffers.get(id(p))
        if dense is None:
            dense = self._buffers[id(p)] = torch.zeros_like(p)
        else:
            dense.zero_()
        return dense.add_(p.grad)
