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
exec patroni "$conf"
