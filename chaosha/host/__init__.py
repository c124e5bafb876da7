"""Hosts as the unit of failure (the lab, chaosha/lab.py): crash, freeze,
isolate and partition whole hosts, each with its undo, covered by heal."""
