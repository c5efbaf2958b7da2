"""VGG19's weights: the jaxstyle file format, and the published checkpoints converted to it.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
