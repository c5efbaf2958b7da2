"""A stylisation from start to result: the run, its loop, checkpoints and interrupts.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
