#!/bin/sh
# One lab host: sshd (key login as root only, with the key and host key the
# lab generated, mounted read-only under /lab-ssh), then dockerd in the
# foreground on its unix socket and on tcp://<this host's address>:2375.
# Plain TCP without TLS: anyone who reaches the port owns the engine, so the
# port is bound to the lab bridge's address only (NODE_ADDRESS), which only
# this machine and the other lab hosts can reach.
set -eu
: "${NODE_ADDRESS:?set NODE_ADDRESS (this host's address on the lab network)}"
if [ -r /lab-ssh/authorized_keys ]; then
  install -m 600 /lab-ssh/authorized_keys /root/.ssh/authorized_keys
  install -m 600 /lab-ssh/host_key /etc/ssh/ssh_host_ed25519_key
  rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key*
  /usr/sbin/sshd -o PasswordAuthentication=no -o PermitRootLogin=prohibit-password \
    -o HostKey=/etc/ssh/ssh_host_ed25519_key -o ListenAddress="$NODE_ADDRESS"
fi
# a stale pid file from a crashed engine (docker kill of this host) blocks a restart
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid 2>/dev/null || true
exec dockerd --host unix:///var/run/docker.sock --host "tcp://$NODE_ADDRESS:2375" \
  --storage-driver overlay2 --log-driver local
