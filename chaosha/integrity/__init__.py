"""Data-integrity checks: a background write/read workload whose every
transaction lands in an append-only ledger, a split-brain sampler, and the
verdict computed from the ledger and the healed cluster (lost, unexpected
and in-doubt writes, two primaries, recovery times, per-node audit)."""
