"""The mlp engine against a per-schedule autograd loop, in the same run (SPEC 10).

    python benchmarks/mlp.py [--threads 2] [--seeds 5] [--schedules 64] [--width 128]

Both sides start from the same draws (the draws themselves are not timed) and compute
the same numbers for every schedule (points along eta1 + eta2 = 2 h^0.5), seed and step:
GD's train, empirical and population loss and the surrogate's population loss (GD on
-(1/n) sum y f). The loop is what one writes without layerlr: one schedule and one seed
at a time, autograd for the gradients. The engine runs all of them as one tensor
program. The default row is the issue's case: depth 3, h = 128, digits, 64 schedules,
5 seeds, 2 steps, float32. ``--synthetic`` adds a ReLU network on Gaussian data with a
linear teacher, whose population loss is estimated on the population inputs.
"""

from __future__ import annotations

import argparse

import torch
from table import best_of, print_table

from layerlr import Setting, constant, evaluate
from layerlr.families.mlp.draws import MlpDraw
from layerlr.families.mlp.draws import draw as draw_mlp

ACT = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu,
       "linear": lambda x: x}


def per_schedule_loop(draws: MlpDraw, rates: torch.Tensor) -> dict[str, torch.Tensor]:
    """The four losses (S, B, T) by autograd, one seed and one schedule at a time."""
    s, (b, t_max, _) = draws.seeds, rates.shape
    out = {k: torch.empty(s, b, t_max) for k in ("train", "empirical", "population",
                                                 "surrogate")}
    act = ACT[draws.activation]
    for si in range(s):
        x, y, a = draws.x[si], draws.y[si], draws.readout[si]
        x_pop = draws.x_test[si] if draws.x_pop is None else draws.x_pop[si]
        y_pop = draws.y_test[si] if draws.y_pop is None else draws.y_pop[si]

        def f(inputs, ws, a=a):
            z = inputs
            for w in ws:
                z = act(z @ w)
            return z @ a / a.shape[0] ** 0.5

        for bi, schedule in enumerate(rates):
            for signal_only in (False, True):
                ws = [w[si].clone().requires_grad_(True) for w in draws.weights]
                for t, row in enumerate(schedule.tolist()):
                    fx = f(x, ws)
                    loss = -(fx * y).mean() if signal_only else (fx - y).square().mean() / 2
                    grads = torch.autograd.grad(loss, ws)
                    with torch.no_grad():
                        for w, g, eta in zip(ws, grads, row):
                            w -= eta * g
                        pop = (f(x_pop, ws) - y_pop).square().mean()
                        if signal_only:
                            out["surrogate"][si, bi, t] = pop
                            continue
                        out["population"][si, bi, t] = pop
                        out["train"][si, bi, t] = (f(x, ws) - y).square().mean() / 2
                        out["empirical"][si, bi, t] = (f(draws.x_test[si], ws)
                                                       - draws.y_test[si]).square().mean()
    return out


def run(name: str, setting: Setting, schedules: int, seeds: list[int], steps: int,
        repeats: int) -> dict:
    budget = 2 * setting.width**0.5  # B = 2 h^alpha at alpha = 0.5
    first = torch.linspace(0, budget, schedules + 2, dtype=torch.float64)[1:-1, None]
    rest = (budget - first) / (setting.layers - 1)
    rates = constant(torch.cat([first, rest.expand(-1, setting.layers - 1)], 1), steps)
    draws = draw_mlp(setting, seeds, "native", "cpu", torch.float32)
    ev, engine_s = best_of(repeats, lambda: evaluate(setting, rates, seeds, draws=draws))
    ref, loop_s = best_of(repeats, lambda: per_schedule_loop(draws, rates))
    err = max(((ev.losses[k] - ref[k].double()).abs() / ref[k].double().abs()).max().item()
              for k in ref)
    return {"case": name, "schedules": rates.shape[0], "loop s": loop_s,
            "engine s": engine_s, "speed-up": loop_s / engine_s, "max rel diff": err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--schedules", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--synthetic", action="store_true",
                        help="also a ReLU network on Gaussian data, d = n = h")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(2020, 2020 + args.seeds))
    h = args.width
    cases = [(f"relu L=3 h={h} digits", Setting(family="mlp", activation="relu", depth=3,
                                                width=h, data="digits", init="gaussian"))]
    if args.synthetic:
        cases.append((f"relu L=3 h={h} gaussian", Setting(
            family="mlp", activation="relu", depth=3, width=h, data="gaussian",
            target="sphere")))
    rows = [run(name, s, args.schedules, seeds, args.steps, args.repeats)
            for name, s in cases]
    print(f"threads={args.threads} seeds={len(seeds)} steps={args.steps} float32 CPU")
    print_table(rows, 26, 12)


if __name__ == "__main__":
    main()
