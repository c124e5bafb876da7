"""ZooKeeper ensemble: probes (quorum, Patroni's leader znode) and actions
(stop/kill/start a member behind a quorum guard, expire a Patroni session)."""
