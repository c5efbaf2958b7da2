"""The objective: the paper's losses, the targets they compare with, and their evaluation.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
