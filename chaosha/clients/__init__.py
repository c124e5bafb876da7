"""Clients: how chaosha talks to each part of the stack — the Docker
engine (container lookup, lifecycle faults with their records, network
sidecars), Patroni's REST API, PostgreSQL, ZooKeeper (kazoo, four-letter
words, session passwords), HAProxy's stats page and Alfresco's REST API.
Every call has its own deadline.  Activities (``<subsystem>/actions.py``
and ``probes.py``) sit above these; nothing here imports an activity."""
