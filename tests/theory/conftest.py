"""Monte Carlo draws many tiny matrices (QR of 12 x 12): one torch thread is faster."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
