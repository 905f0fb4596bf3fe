"""Source emitters, one per body kind. Each returns the lines of the ``kernel`` function;
``layout`` fills the parameter arrays in the same order. Pure Python: nothing here imports
numba."""
