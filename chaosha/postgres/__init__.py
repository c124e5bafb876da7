"""PostgreSQL: node roles, replication, timelines, row counts and write
checks, asked of each node or through HAProxy."""
