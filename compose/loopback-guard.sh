#!/usr/bin/env bash
# Make "published on 127.0.0.1 only" a boundary: drop every packet addressed
# to the loopback network that arrives on any interface but lo.
#
# Docker 20.10 DNATs 127.0.0.1-published ports in nat PREROUTING for packets
# from any interface; the rewrite happens before the kernel's martian check,
# so a neighbour that routes 127.0.0.1 to this host reaches the container
# (Docker 28 adds its own raw-table drops).  The raw table runs before
# conntrack and NAT, and Docker never rewrites raw PREROUTING (checked: a
# dockerd restart rewrites its nat chains and leaves this rule in place).
# Nothing legitimate is lost: loopback traffic of the host arrives on lo;
# containers have loopbacks of their own; replies to NATed connections are
# seen here with their un-NATed (bridge) address.  IPv6: the kernel already
# drops ::1 from other interfaces before netfilter; the rule is kept beside
# it as a second fence.
#
# Usage: loopback-guard.sh [ensure|check]   (ensure: add what is missing;
# check: exit 1 when a rule is missing).  Rules are found by their comment.
set -uo pipefail

COMMENT=chaosha-loopback-guard
RULE=(PREROUTING ! -i lo -m comment --comment "$COMMENT" -j DROP)

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# $1 = iptables or ip6tables, $2 = loopback network
has_rule() { "$1" -w 5 -t raw -C "${RULE[0]}" -d "$2" "${RULE[@]:1}" 2>/dev/null; }
add_rule() { "$1" -w 5 -t raw -I "${RULE[0]}" 1 -d "$2" "${RULE[@]:1}"; }
usable() { command -v "$1" >/dev/null && "$1" -w 5 -t raw -S PREROUTING >/dev/null 2>&1; }

mode="${1:-ensure}"
missing=0
for pair in "iptables 127.0.0.0/8" "ip6tables ::1/128"; do
  set -- $pair
  if ! usable "$1"; then
    [ "$1" = iptables ] || continue  # no IPv6 netfilter: nothing to guard there
    say "warning: cannot read the raw table with iptables (needs root and iptables): 127.0.0.1-published ports are not guarded"
    missing=1
    continue
  fi
  has_rule "$1" "$2" && continue
  if [ "$mode" = ensure ] && add_rule "$1" "$2"; then
    say "added: $1 -t raw -I PREROUTING -d $2 ! -i lo -j DROP (127.0.0.1-published ports unreachable from other interfaces)"
  else
    missing=1
  fi
done
exit "$missing"
