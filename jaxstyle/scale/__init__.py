"""Fitting a run to the machine: its memory estimate, the plan, placement over devices.

Internal: the public API is what :mod:`jaxstyle` exports.
"""
