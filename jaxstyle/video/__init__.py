"""Video: the temporal pieces of Ruder, Dosovitskiy & Brox (GCPR 2016), flow reliability and warping.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
