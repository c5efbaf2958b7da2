"""Images in and out: colour-managed reading, resizing and the start, encoded writing.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
