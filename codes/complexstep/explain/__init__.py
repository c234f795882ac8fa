"""Explaining a layer of a model: the ``Explainer``, the ``Jacobian`` it gives, the domains a map
attributes to and the kinds of map."""
