#!/bin/sh
# Writes zoo.cfg from the environment and runs one ensemble member in the foreground.
#   ZK_MY_ID       this member's id (1..255)
#   ZK_SERVERS     space-separated host names of all members, in id order
#   ZK_TICK_MS     tickTime (default 2000)
#   ZK_INIT_LIMIT, ZK_SYNC_LIMIT  initLimit/syncLimit in ticks (default 10, 5)
#   ZK_MIN_SESSION_MS  minSessionTimeout (default 4000)
#   ZK_MAX_SESSION_MS  maxSessionTimeout; must be >= Patroni's ttl in ms, or the
#                  server silently clamps Patroni's session (default 40000)
#   ZK_TLS_DIR     folder of ca.pem (trusted CA) and server.pem (key +
#                  certificate), default /run/secrets (Compose secrets zk-ca, zk-server)
# The failover profile (compose/profiles/<profile>.env, the env_file of
# docker-compose.yml) sets the ZK_* timing values above.
# Clients: TLS on 2281 only, a certificate signed by the stack's CA required
# (ssl.clientAuth=need), its subject (CN=patroni, CN=chaosha) the x509 ACL id.
# Plain 2181 listens on 127.0.0.1 inside the container, for the healthcheck.
set -eu
: "${ZK_MY_ID:?set ZK_MY_ID}" "${ZK_SERVERS:?set ZK_SERVERS}"
tls="${ZK_TLS_DIR:-/run/secrets}"
for f in "$tls/zk-ca" "$tls/zk-server"; do
  [ -r "$f" ] || { echo "$f missing or unreadable: run 'chaosha stack up' to generate ZooKeeper's TLS credentials" >&2; exit 2; }
done
data=/var/lib/zookeeper
conf=$data/zoo.cfg
echo "$ZK_MY_ID" > "$data/myid"
{
  echo "tickTime=${ZK_TICK_MS:-2000}"
  echo "initLimit=${ZK_INIT_LIMIT:-10}"
  echo "syncLimit=${ZK_SYNC_LIMIT:-5}"
  echo "dataDir=$data"
  echo "clientPort=2181"
  echo "clientPortAddress=127.0.0.1"
  echo "secureClientPort=2281"
  echo "minSessionTimeout=${ZK_MIN_SESSION_MS:-4000}"
  echo "maxSessionTimeout=${ZK_MAX_SESSION_MS:-40000}"
  echo "4lw.commands.whitelist=ruok,srvr,mntr,cons"
  echo "admin.enableServer=false"
  echo "quorumListenOnAllIPs=true"
  echo "autopurge.snapRetainCount=3"
  echo "autopurge.purgeInterval=1"
  i=1
  for host in $ZK_SERVERS; do echo "server.$i=$host:2888:3888"; i=$((i + 1)); done
} > "$conf"
exec java -Xms64m -Xmx${ZK_HEAP:-256m} -XX:+UseSerialGC \
  -Dlog4j.configuration=file:/etc/zookeeper/log4j.properties \
  -Dzookeeper.admin.enableServer=false \
  -Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory \
  -Dzookeeper.authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider \
  -Dzookeeper.ssl.clientAuth=need \
  -Dzookeeper.ssl.keyStore.location="$tls/zk-server" -Dzookeeper.ssl.keyStore.type=PEM \
  -Dzookeeper.ssl.trustStore.location="$tls/zk-ca" -Dzookeeper.ssl.trustStore.type=PEM \
  -cp '/usr/share/java/*' org.apache.zookeeper.server.quorum.QuorumPeerMain "$conf"
