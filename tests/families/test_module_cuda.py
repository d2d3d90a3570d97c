"""The module family on CUDA equals the per-schedule torch.optim loop on the CPU
(skipped without a CUDA GPU): the draws, the batched programs and the updates run on
the GPU, the reference is test_module's, in float64."""

from __future__ import annotations

import pytest
import torch

from families.test_module import CASES, reference, user_module
from layerlr import Setting, evaluate
from layerlr.families import family

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("name", ["cnn-mnist1d-adam-batch", "transformer-sgd-full",
                                  "user-mse-sgd-batch-groups"])
def test_cuda_engine_equals_the_cpu_loop(name):
    case = dict(CASES[name])
    build = case.pop("build")
    build = getattr(user_module(), build) if isinstance(build, str) else build
    scale, names = case.pop("scale"), case.pop("names", None)
    setting = Setting(family="module", **case)
    seeds, steps = [3, 11], 3
    rates = scale * torch.rand(2, steps, setting.layers, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(1))
    ev = evaluate(setting, rates, seeds, device="cuda", dtype=torch.float64)
    assert ev.device.startswith("cuda")
    for si, seed in enumerate(seeds):
        for b in range(2):
            args = (build, setting.data, setting.loss, setting.optimizer, setting.batch_size,
                    seed, rates[b], names)
            gd = reference(*args, False, setting.width, setting.depth)
            sur = reference(*args, True, setting.width, setting.depth)
            for t in range(steps):
                assert ev.losses["train"][si, b, t].item() == pytest.approx(
                    gd[t]["train"], rel=1e-6, abs=0)
                assert ev.losses["population"][si, b, t].item() == pytest.approx(
                    gd[t]["held_out"], rel=1e-6, abs=0)
                assert ev.losses["surrogate"][si, b, t].item() == pytest.approx(
                    sur[t]["held_out"], rel=1e-6, abs=0)


def test_cuda_chunks_give_the_losses_of_one_batch_and_float32_follows_float64():
    setting = Setting(family="module", module="layerlr.zoo.transformer:build",
                      data="modular-addition", width=32, depth=2, optimizer="adam",
                      batch_size=512)
    rates = 1e-3 * (1 + torch.rand(16, 4, setting.layers, dtype=torch.float64,
                                   generator=torch.Generator().manual_seed(2)))
    whole = evaluate(setting, rates, [1, 2], device="cuda", dtype=torch.float64)
    per = family("module").footprint(setting, 2, 4, 8)[1]
    chunked = evaluate(setting, rates, [1, 2], device="cuda", dtype=torch.float64,
                       memory_budget=4 * per)  # 4 schedules a chunk
    for k in whole.losses:
        torch.testing.assert_close(chunked.losses[k], whole.losses[k], rtol=1e-10, atol=0)
    low = evaluate(setting, rates, [1, 2], device="cuda", dtype=torch.float32)
    torch.testing.assert_close(low.losses["train"], whole.losses["train"], rtol=1e-3, atol=0)
    torch.testing.assert_close(low.metrics["accuracy"], whole.metrics["accuracy"], rtol=0,
                               atol=2e-3)
