"""What an mlp cell can be made of (SPEC 10): its activations, data and targets, and the
size of its population estimate. Torch-free; read by the family and its engine alike."""

from __future__ import annotations

from layerlr.families.mlp.datasets import DATASETS
from layerlr.families.rules import SYNTHETIC

ACTIVATIONS = ("relu", "tanh", "gelu", "linear")  # sigma; the first is the default
DATAS = SYNTHETIC + tuple(DATASETS)  # drawn inputs, or a bundled data set
TARGETS = ("gaussian", "sphere", "teacher")  # a linear beta (SPEC 2), or a network
POPULATION = 2048  # inputs of the population estimate, drawn per seed after all else
