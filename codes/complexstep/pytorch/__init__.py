"""PyTorch encoders, explained by the same graph engines as Keras models.

A ``torch.nn.Module`` (or a ``torch.export`` program, as a ``.pt2`` archive holds it) is captured
with ``torch.export`` into a graph of ATen operations; each operation's twin keeps a state from
the real pass and sends perturbations through the linear map that state fixes (``graph``).
Archives are read by ``model.torch_files``, which never unpickles anything.
"""
