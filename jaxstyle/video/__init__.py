"""Video (Ruder, Dosovitskiy & Brox, GCPR 2016): clips in and out, optical flow, the passes over a clip.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
