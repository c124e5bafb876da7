#!/bin/sh
# One Patroni node; the node's name and addresses default to its host name.
set -eu
: "${PATRONI_SUPERUSER_PASSWORD:?missing: run 'chaosha stack up' to generate compose/.env}"
name="${PATRONI_NAME:-$(hostname)}"
export PATRONI_NAME="$name"
export PATRONI_RESTAPI_CONNECT_ADDRESS="${PATRONI_RESTAPI_CONNECT_ADDRESS:-$name:8008}"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="${PATRONI_POSTGRESQL_CONNECT_ADDRESS:-$name:5432}"
exec patroni /etc/patroni/patroni.yml
