#!/bin/sh
# Runs once, on the node that initialises the cluster: Patroni passes a
# superuser connection string.  Creates Alfresco's role and database.
set -eu
conn="$1"
: "${ALFRESCO_DB_PASSWORD:?missing}"
psql "$conn" -v ON_ERROR_STOP=1 -v pw="$ALFRESCO_DB_PASSWORD" <<'SQL'
CREATE ROLE alfresco LOGIN PASSWORD :'pw';
CREATE DATABASE alfresco OWNER alfresco ENCODING 'UTF8';
SQL
