"""pyree's CPU kernels: executable descriptions compiled to numba.

``config`` (flags), ``types`` and ``ops`` (the element-type and operator tables), ``ir``
(validated records), ``layout`` (dispatch-time shapes, strides and binding extents),
``library`` (source emitters per body kind), ``compiler`` (source to numba, on-disk cache)
and ``runtime`` (scalar helpers the generated code calls). Only ``compiler`` and
``runtime`` import numba, and only when an executable is loaded.
"""
