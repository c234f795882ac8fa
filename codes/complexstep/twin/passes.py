"""The real pass and the linear maps of a graph of twins, node by node.

A graph is given as each node's twin (None for a node that passes on the one node it reads) and
the nodes each reads, each before it; one node is the image. Plain Python over the twins' ``real``
and ``linear``, so that the graphs of Keras models and of PyTorch modules share it, each in its
framework's tensors.
"""


def real_pass(reads: list[list[int]], image: int, twins: list, x) -> tuple[list, list]:
    """Each node's real value and state for the image ``x``, laid out as the twins take it.

    Args:
        reads: for each node, the nodes it reads, each before it.
        image: the node that is the image.
        twins: each node's twin, None for the identity.
        x: the image.
    """
    values, states = [], []
    for position, twin in enumerate(twins):
        inputs = [values[read] for read in reads[position]]
        if position == image:
            value, state = x, None
        elif twin is None:
            value, state = inputs[0], None
        else:
            value, state = twin.real(inputs)
        values.append(value)
        states.append(state)
    return values, states


def forward(reads: list[list[int]], image: int, twins: list, t, states: list):
    """Perturbations ``t`` of the image through each node's linear map, the one its state from
    ``real_pass`` fixes: the last node's derivatives along them."""
    tangents: list = []
    for position, twin in enumerate(twins):
        inputs = [tangents[read] for read in reads[position]]
        if position == image:
            tangents.append(t)
        elif twin is None:
            tangents.append(inputs[0])
        else:
            tangents.append(twin.linear(inputs, states[position]))
    return tangents[-1]
