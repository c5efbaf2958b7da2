"""The controls of Gatys et al. (CVPR 2017) and the batching of a run's arguments.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
