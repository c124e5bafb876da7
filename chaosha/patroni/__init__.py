"""Patroni: cluster state over its REST API, switchover and failover."""
