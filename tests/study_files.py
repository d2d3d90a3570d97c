"""Study files that several test modules run."""

from __future__ import annotations

# two TPE cells on one Ray worker: the shared storages' tests (PostgreSQL, Redis)
SHARED_STORAGE = """
name = "{name}"
[model]
depth = [2, 3]
width = 16
[train]
seeds = [1, 2]
[search]
sampler = "tpe"
n_trials = 15
[resources]
batch_size = 2
workers = 1
"""
