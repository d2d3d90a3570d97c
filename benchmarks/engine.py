"""Engine against the published method: naive autograd, one schedule and seed at a time.

    python benchmarks/engine.py [--threads 2] [--seeds 5]

Both sides start from the same raw draws (published protocol, float32 on the CPU; the
drawing itself is not timed) and report the empirical test loss after each of 2 steps
for every schedule of the published diagonal sweep. The engine's time includes
computing its sufficient statistics Sigma, c from the data. The naive side multiplies by
the full n x d data matrix and takes products left to right, as the paper's scripts do.
The engine (surrogate off, so that the work is the same) also reports train and
population losses.
"""

from __future__ import annotations

import argparse
import time

import torch
from table import best_of, print_table

from layerlr import Setting, constant, diagonal, evaluate
from layerlr.families.linear.draws import from_raw, raw_draws


def published_method(setting: Setting, raws: list[dict], rates: torch.Tensor) -> torch.Tensor:
    """Empirical test loss (S, B, T) by autograd on the full X, per schedule and seed."""
    out = torch.empty(len(raws), rates.shape[0], rates.shape[1])
    h = setting.width
    for si, raw in enumerate(raws):
        x, beta, x_test = raw["x"], raw["beta"], raw["x_test"]
        y = x @ beta + raw["noise"]
        for b, schedule in enumerate(rates):
            ws = [w.clone().requires_grad_(True) for w in raw["weights"]]
            for t, row in enumerate(schedule):
                loss = (predict(setting, x, ws, raw["readout"], h) - y).square().sum()
                grads = torch.autograd.grad(loss / (2 * x.shape[0]), ws)
                with torch.no_grad():
                    for w, g, eta in zip(ws, grads, row.tolist()):
                        w -= eta * g
                    err = predict(setting, x_test, ws, raw["readout"], h) - x_test @ beta
                    out[si, b, t] = err.square().sum(1).mean()
    return out


def predict(setting, inputs, ws, readout, h):
    out = inputs
    for w in ws:
        out = out @ w  # left to right
    return out / h if setting.family == "matrix" else out @ readout[:, None] / h**0.5


def mm_gflops(n: int = 1000) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def naive_flops(setting: Setting, schedules: int, seeds: int, steps: int) -> float:
    """Forward (2 products), backward (3), test forward (2) per step, left to right."""
    h, d, n, m = setting.width, setting.d, setting.n, setting.test_size
    if setting.family == "matrix":
        per_step = (2 * (2 * n * d * h + 3 * n * h * h) + 2 * (n * d * h)
                    + 2 * (m * d * h + m * h * h))
    else:
        k = setting.layers
        chain = n * d * h + (k - 1) * n * h * h
        per_step = 2 * (3 * chain) + 2 * (m * d * h + (k - 1) * m * h * h)
    return per_step * steps * schedules * seeds


def engine_flops(setting: Setting, schedules: int, seeds: int) -> float:
    """The engine's products for 2 steps (d = n = h): shared per seed, then per schedule."""
    h, r = setting.width, min(setting.test_size, setting.d)
    if setting.family == "matrix":
        # per seed (whitened: Sigma = I): M0, G1, G2, 3 basis, 14 step-2 products, and
        # Z times the 4 basis and beta (step 1's losses are Gram quadratic forms)
        shared = 2 * h**3 * (1 + 2 + 3 + 14) + 5 * 2 * r * h * h
        if setting.init == "orthogonal" and setting.d == h and setting.data == "whitened":
            # in the init's frame (noise-free): c rotated (2 products), 5 words of R0;
            # Z W1, Z R0, Z R0^2, Z beta (step 1), Z beta again (step 2's losses)
            shared = 2 * h**3 * (2 + 5) + 5 * 2 * r * h * h
        # per schedule at step 2: M2 and Z M2
        return seeds * (shared + schedules * (2 * h**3 + 2 * r * h * h))
    k = setting.layers
    per_step = 2 * h * h * (2 * k - 1 + 1) + 2 * r * h  # chains, Sigma u, Z u
    return seeds * schedules * 2 * per_step


def run(name: str, setting: Setting, budget: float, seeds: list[int], repeats: int,
        device: str = "cpu") -> dict:
    rates = constant(diagonal(budget, setting.layers), 2)
    raws = [raw_draws(setting, seed, "published", "cpu", torch.float32) for seed in seeds]

    def engine() -> object:
        out = evaluate(setting, rates, seeds, draws=from_raw(raws, device, torch.float32),
                       surrogate=False, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    ev, engine_s = best_of(repeats, engine)
    ref, naive_s = best_of(repeats, lambda: published_method(setting, raws, rates))
    err = ((ev.losses["empirical"] - ref.double()).abs() / ref.double()).max().item()
    b, s = rates.shape[0], len(seeds)
    return {"sweep": f"{name} ({device})", "schedules": b, "naive s": naive_s,
            "engine s": engine_s, "speed-up": naive_s / engine_s,
            "naive GFLOP": naive_flops(setting, b, s, 2) / 1e9,
            "engine GFLOP": engine_flops(setting, b, s) / 1e9,
            "naive GFLOP/s": naive_flops(setting, b, s, 2) / naive_s / 1e9,
            "engine GFLOP/s": engine_flops(setting, b, s) / engine_s / 1e9,
            "max rel diff": err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--device", default="cpu", help="where the engine runs (cpu, cuda); "
                        "the published method always runs on the CPU, as published")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(2020, 2020 + args.seeds))
    rows = [
        run("matrix h=1000 B=40000", Setting(family="matrix", width=1000), 40000, seeds,
            args.repeats, args.device),
        run("readout L=3 h=1000 B=80", Setting(family="readout", depth=3, width=1000), 80,
            seeds, args.repeats, args.device),
    ]
    print(f"threads={args.threads} seeds={len(seeds)} steps=2 float32 {args.device}; "
          f"torch.mm 1000^3: {mm_gflops():.1f} GFLOP/s")
    print_table(rows, 23, 14)

if __name__ == "__main__":
    main()
