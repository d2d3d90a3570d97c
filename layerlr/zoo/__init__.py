"""Networks shipped with layerlr for the module family (SPEC 13), each a module with a
``build(width, depth)`` function written as a user would write theirs; a study names one
as ``module = "layerlr.zoo.mnist1d_cnn:build"``.

- :mod:`.mnist1d_mlp`: the MNIST-1D paper's MLP (width = hidden units);
- :mod:`.mnist1d_cnn`: the MNIST-1D paper's CNN (width = channels);
- :mod:`.transformer`: a small pre-norm transformer on modular addition (d = width).

They live in the package, not in an examples folder, so that they import by name on
every Ray worker, with no path to resolve, and so that the tests import them directly.
"""
