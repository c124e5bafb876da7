"""Nemesis runs: random, reproducible schedules of overlapping faults.

A schedule is drawn from a seed (:mod:`.schedule`, pure), run step by step
with chaosha's own fault actions (:mod:`.faults`, :mod:`.runner`), and its
outages are attributed to the steps that caused them (:mod:`.recovery`).
This package sits above the fault packages (docker, zookeeper, patroni)
and the integrity workload; the suite's nemesis driver, the report and the
CLI use it.
"""
