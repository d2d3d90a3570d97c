"""Run one evaluation of the module family and print its peak memory as JSON; a
subprocess of test_module_memory (argv[1]: the Setting's fields, seeds, schedules,
steps, as JSON).

The peak is the growth of the resident set during ``evaluate`` over its size just
before (the draws are made before): Linux's high-water mark VmHWM, reset by writing
5 to /proc/self/clear_refs. The parent sets MALLOC_MMAP_THRESHOLD_ so that every large
tensor is its own mapping and freeing it returns the memory (the resident set then
follows the live tensors).
"""

import json
import sys

import torch

from layerlr import Setting, evaluate
from layerlr.engine import draw
from layerlr.families import family


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def main():
    args = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    setting = Setting(family="module", **args["setting"])
    seeds, b, steps = args["seeds"], args["schedules"], args["steps"]
    draws = draw(setting, seeds, "native", "cpu", torch.float64)
    rates = torch.full((b, steps, setting.layers), 1e-3, dtype=torch.float64)
    evaluate(setting, rates[:1, :1], seeds, draws=draws)  # libraries and kernels loaded
    shared, per = family("module").footprint(setting, len(seeds), steps, 8)
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    evaluate(setting, rates, seeds, draws=draws, memory_budget=b * per + 1)
    peak = status("VmHWM")
    print(json.dumps({"measured": peak - before, "shared": shared, "per_schedule": per}))


if __name__ == "__main__":
    main()
