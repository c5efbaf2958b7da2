"""CPU-only kernels, an explicit plug-in that is never active on another backend.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
