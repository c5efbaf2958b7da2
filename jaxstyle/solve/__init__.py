"""The optimisers: L-BFGS stepped from the host, and the solvers that run on the device.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
