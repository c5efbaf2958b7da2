"""The network: VGG19's layers, its Flax module and the input conventions.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
