"""Real data sets for the mlp family: scikit-learn's bundled digits and diabetes (SPEC 10).

Both ship inside scikit-learn, so nothing is downloaded at run time. Each gives inputs
x in R^d and one scalar label:

- ``digits``: 1,797 images of 8 x 8 pixels (d = 64); the label is the digit shown, 0-9.
- ``diabetes``: 442 patients, d = 10 baseline variables; the label is a measure of
  disease progression one year later.

Per seed the rows are split at random into a training set and ``test_size`` held-out
rows (:func:`split`); inputs and labels are then standardised with the training rows'
mean and standard deviation (inputs per column; a column constant on the training rows
is centred only), so the labels have mean 0 and variance 1 on the training rows and a
network that outputs 0 has a training loss of 1/2, like the synthetic targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where rows are made: reading a study file needs none
    from torch import Tensor


@dataclass(frozen=True)
class DataSet:
    """Size of a bundled data set; its label, as documented in the README."""

    rows: int
    d: int
    label: str

    @property
    def test_size(self) -> int:
        """Held-out rows by default: a quarter of the rows."""
        return self.rows // 4


DATASETS = {
    "digits": DataSet(1797, 64, "the digit shown (0-9)"),
    "diabetes": DataSet(442, 10, "disease progression one year after baseline"),
}


@cache
def load(name: str) -> tuple[Tensor, Tensor]:
    """The raw rows of a bundled data set: inputs (rows, d) and labels (rows,), float64."""
    if name not in DATASETS:
        raise ValueError(f"data: {name!r} is not a bundled data set; choose one of "
                         f"{list(DATASETS)}")
    import torch
    from sklearn import datasets as bundled  # imported here: seconds, and only for real data

    x, y = getattr(bundled, f"load_{name}")(return_X_y=True)
    return torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)


@dataclass
class Split:
    """One seed's standardised rows: training (n, d), (n,) and held-out (m, d), (m,)."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor


def split(name: str, order: Tensor, test_size: int) -> Split:
    """Hold out the rows ``order[:test_size]``, train on the rest, standardise both with
    the training rows' statistics. ``order`` is a permutation of the rows."""
    import torch

    x, y = load(name)
    test, train = order[:test_size], order[test_size:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, 1.0)  # constant pixels: centred only
    y_mean, y_std = y[train].mean(), y[train].std()

    def inputs(rows: Tensor) -> Tensor:
        return (x[rows] - mean) / std

    def labels(rows: Tensor) -> Tensor:
        return (y[rows] - y_mean) / y_std

    return Split(inputs(train), labels(train), inputs(test), labels(test))
