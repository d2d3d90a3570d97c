"""The engine on CUDA equals naive autograd on the CPU (skipped without a CUDA GPU)."""

from __future__ import annotations

import naive
import pytest
import torch

from layerlr import Setting, evaluate
from layerlr.families.linear.draws import from_raw, raw_draws

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CASES = [dict(family="matrix", depth=2, width=6, d=8, n=12, test_size=5),
         dict(family="readout", depth=4, width=5, d=7, n=9, init="gaussian", data="gaussian",
              target="gaussian", test_size=9)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['family']}{c['depth']}")
def test_cuda_engine_equals_naive_autograd_on_the_cpu(case):
    setting = Setting(**case)
    rates = 0.1 + 0.5 * torch.rand(3, 3, setting.layers, dtype=torch.float64,
                                   generator=torch.Generator().manual_seed(0))
    raws = [raw_draws(setting, seed, "native", "cpu", torch.float64) for seed in (1, 2)]
    ev = evaluate(setting, rates, [1, 2], draws=from_raw(raws, "cuda", torch.float64),
                  device="cuda", dtype=torch.float64)
    assert ev.device.startswith("cuda")
    for si, raw in enumerate(raws):
        for b in range(3):
            gd = naive.run(setting, raw, rates[b])
            sur = naive.run(setting, raw, rates[b], signal_only=True)
            for t in range(3):
                for name in ("train", "population", "empirical"):
                    torch.testing.assert_close(ev.losses[name][si, b, t].item(), gd[t][name],
                                               rtol=1e-10, atol=0)
                torch.testing.assert_close(ev.losses["surrogate"][si, b, t].item(),
                                           sur[t]["population"], rtol=1e-10, atol=0)


def test_published_draws_on_cuda_match_the_cpu_run():
    setting = Setting(family="readout", depth=3, width=64)
    rates = torch.tensor([[10.0, 20.0], [15.0, 15.0]], dtype=torch.float64)
    cpu = evaluate(setting, rates, [2020, 2021], steps=2, protocol="published",
                   dtype=torch.float32)
    gpu = evaluate(setting, rates, [2020, 2021], steps=2, protocol="published",
                   device="cuda", dtype=torch.float32)
    for name in ("train", "population", "empirical", "surrogate"):
        torch.testing.assert_close(gpu.losses[name], cpu.losses[name], rtol=1e-4, atol=1e-6)


def test_a_study_evaluator_uses_the_gpu():
    from layerlr.study.worker import Evaluator

    assert Evaluator(1, None, in_ray=False).device == "cuda"
