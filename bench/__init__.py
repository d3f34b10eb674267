"""teamcal's benchmark: ``python -m bench`` compares teamcal with Radicale, Xandikos and the floor.

It runs the shared ``caldav_bench.py`` against each server (see :mod:`bench.cli`);
:mod:`bench.index_scaling` measures the kernel's time-range index in-process.
"""
