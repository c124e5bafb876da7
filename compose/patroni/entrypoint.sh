#!/bin/sh
# One Patroni node; the node's name and addresses default to its host name.
# Patroni reads a configuration directory: the shared patroni.yml plus a
# per-node file that sets the custom GUC chaosha.member to the node's name,
# so every SQL session can ask the server which member it is
# (SELECT current_setting('chaosha.member')) whatever its IP address.
set -eu
: "${PATRONI_SUPERUSER_PASSWORD:?missing: run 'chaosha stack up' to generate compose/.env}"
name="${PATRONI_NAME:-$(hostname)}"
case "$name" in
  ''|*[!A-Za-z0-9_.-]*) echo "PATRONI_NAME '$name': use letters, digits, '_', '.', '-'" >&2; exit 2 ;;
esac
export PATRONI_NAME="$name"
export PATRONI_RESTAPI_CONNECT_ADDRESS="${PATRONI_RESTAPI_CONNECT_ADDRESS:-$name:8008}"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="${PATRONI_POSTGRESQL_CONNECT_ADDRESS:-$name:5432}"
conf="${PATRONI_CONFIG_DIR:-/tmp/patroni.d}"
mkdir -p "$conf"
ln -sf /etc/patroni/patroni.yml "$conf/00-patroni.yml"
printf 'postgresql:\n  parameters:\n    chaosha.member: "%s"\n' "$name" > "$conf/10-member.yml"
# The failover profile (compose/profiles/<profile>.env, the containers'
# env_file): its bootstrap.dcs values, used when this cluster is initialised
# (`chaosha stack up` converges a running cluster's /config to them).
for v in DCS_TTL DCS_LOOP_WAIT DCS_RETRY_TIMEOUT DCS_MAXIMUM_LAG_ON_FAILOVER DCS_FAILSAFE_MODE PG_WAL_SENDER_TIMEOUT; do
  eval "value=\${$v:-}"
  [ -n "$value" ] || { echo "$v is not set: the container needs compose/profiles/<profile>.env (docker-compose.yml env_file)" >&2; exit 2; }
done
case "$DCS_FAILSAFE_MODE" in
  true|false) ;;
  *) echo "DCS_FAILSAFE_MODE='$DCS_FAILSAFE_MODE': use true or false" >&2; exit 2 ;;
esac
cat > "$conf/20-profile.yml" <<EOF
bootstrap:
  dcs:
    ttl: $DCS_TTL
    loop_wait: $DCS_LOOP_WAIT
    retry_timeout: $DCS_RETRY_TIMEOUT
    maximum_lag_on_failover: $DCS_MAXIMUM_LAG_ON_FAILOVER
    failsafe_mode: $DCS_FAILSAFE_MODE
    postgresql:
      parameters:
        wal_sender_timeout: $PG_WAL_SENDER_TIMEOUT
EOF
case "${SHORT_TTL_PATCH:-off}" in
  off) ;;
  on)  # ttl < 20: Patroni 4.1.5 patched in a copy; exits 3 with the reason on any other version
    /opt/patroni/bin/python3 /usr/local/lib/chaosha/short_ttl_patch.py /tmp/patroni-short-ttl || exit 3
    export PYTHONPATH=/tmp/patroni-short-ttl ;;
  *) echo "SHORT_TTL_PATCH='$SHORT_TTL_PATCH': use on or off" >&2; exit 2 ;;
esac
# Stock 4.1.5's failsafe lets a member that holds the key or is promoting
# accept an old leader's POST /failsafe: two running primaries for seconds
# (docs/fast-failover.md: the patch's update_failsafe edit fixes it).
if [ "$DCS_FAILSAFE_MODE" = true ] && [ "${SHORT_TTL_PATCH:-off}" != on ]; then
  echo "DCS_FAILSAFE_MODE=true needs SHORT_TTL_PATCH=on: stock Patroni 4.1.5 accepts an old leader's POST /failsafe on a member that holds the leader key or is promoting, and that old leader then runs as primary beside the new one; set SHORT_TTL_PATCH=on (which fixes it) or DCS_FAILSAFE_MODE=false" >&2
  exit 2
fi
# Wait (at most ZK_WAIT_S, default 120 s) for ZooKeeper to serve: Patroni
# exits when it cannot connect within 15 s.  In the background, so a stop
# signal ends the wait at once.
/opt/patroni/bin/python3 /usr/local/lib/chaosha/wait_for_zookeeper.py /etc/patroni/patroni.yml "${ZK_WAIT_S:-120}" &
waiter=$!
trap 'kill "$waiter" 2>/dev/null; exit 143' TERM INT
wait "$waiter" || true
trap - TERM INT
exec patroni "$conf"
