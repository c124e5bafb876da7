#!/usr/bin/env bash
# Make this Debian machine able to build and run the stack, offline from any
# container registry.  Idempotent: returns in well under 5 s when all is there.
#   1. Docker engine (Debian's docker.io), Compose v2 and buildx (trixie's
#      docker-compose and docker-buildx)
#   2. a running dockerd
#   3. the base image the Dockerfiles name, made with debootstrap when it
#      can be neither found nor pulled
#   4. the loopback guard (loopback-guard.sh): packets to 127.0.0.0/8 that
#      arrive on any interface but lo are dropped, so ports published on
#      127.0.0.1 are reachable from this host only.
#   5. Java 17 and the JDBC driver + DBCP2 pool Alfresco uses, for the JVM
#      client (chaosha/alfresco/jvm.py compiles it at first use).
set -euo pipefail

BASE_IMAGE="${CHAOSHA_BASE_IMAGE:-debian:bookworm-slim}"
BASE_SUITE="${CHAOSHA_BASE_SUITE:-bookworm}"
MIN_FREE_GB="${CHAOSHA_MIN_FREE_GB:-4}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  die "'$*' needs root: run as root or install sudo"; fi; }

engine_ok() { timeout 10 docker info >/dev/null 2>&1; }

apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { say "apt-get update"; as_root apt-get update -qq; apt_updated=1; }
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_engine() {
  command -v apt-get >/dev/null || die "no Docker engine and no apt-get: install Docker and Compose v2 by hand"
  command -v dockerd >/dev/null || apt_install docker.io iptables
}

add_trixie() {
  # Compose v2 and buildx are packaged from Debian trixie on; take only those
  # packages from trixie (pinned low, so nothing else is upgraded), from the
  # mirror apt already uses.
  [ -f /etc/apt/sources.list.d/chaosha-trixie.sources ] && return
  local uri
  uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 | awk '{print $2}')
  [ -n "$uri" ] || die "cannot tell which Debian mirror apt uses; install docker-compose (v2) and docker-buildx by hand"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
    | as_root tee /etc/apt/sources.list.d/chaosha-trixie.sources >/dev/null
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 1\n' | as_root tee /etc/apt/preferences.d/chaosha-trixie >/dev/null
  apt_updated=""
}

install_from_trixie() {  # $1 = package, $2 = the check that proves it works
  command -v apt-get >/dev/null || die "$1 missing: install it by hand (docker compose / docker buildx plugin)"
  add_trixie
  [ -n "$apt_updated" ] || { say "apt-get update (with trixie, pinned)"; as_root apt-get update -qq; apt_updated=1; }
  say "installing $1 from trixie"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends -t trixie "$1" >/dev/null
  eval "$2" >/dev/null 2>&1 || die "$1 still does not work after installing it"
}

install_plugins() {
  # Compose starts the stack; buildx builds our images with BuildKit (the
  # Dockerfiles use a build secret) without Compose's labels on them.
  docker compose version >/dev/null 2>&1 || install_from_trixie docker-compose "docker compose version"
  docker buildx version >/dev/null 2>&1 || install_from_trixie docker-buildx "docker buildx version"
}

start_engine() {
  engine_ok && return
  if [ -S /var/run/docker.sock ] && [ "$(id -u)" -ne 0 ] && ! [ -w /var/run/docker.sock ]; then
    die "the Docker socket is not writable by $(id -un): add yourself to the docker group (then log in again) or run as root"
  fi
  [ "$(id -u)" -eq 0 ] || die "dockerd is not running and starting it needs root"
  say "starting dockerd (log: /var/log/chaosha-dockerd.log)"
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl start docker || true
  fi
  engine_ok || { setsid dockerd >/var/log/chaosha-dockerd.log 2>&1 < /dev/null & }
  for _ in $(seq 60); do engine_ok && return; sleep 1; done
  die "dockerd did not answer within 60 s; see /var/log/chaosha-dockerd.log"
}

check_disk() {
  local root free
  root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)
  mkdir -p "$root" 2>/dev/null || true
  free=$(df -P -BG "$root" | awk 'NR==2 {gsub("G","",$4); print $4}')
  [ "${free:-0}" -ge "$MIN_FREE_GB" ] || die "only ${free}G free under $root; the images need about ${MIN_FREE_GB}G: free some disk (docker system prune) and retry"
}

ensure_base_image() {
  timeout 20 docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
  say "base image $BASE_IMAGE missing: trying docker pull (20 s)"
  timeout 20 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1 && return
  say "no registry reachable: building $BASE_IMAGE with debootstrap (about 30 s)"
  command -v debootstrap >/dev/null || apt_install debootstrap
  local root; root=$(mktemp -d /var/tmp/chaosha-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  as_root debootstrap --variant=minbase "$BASE_SUITE" "$root" >/dev/null
  # like the official slim image: no docs, no man pages, no apt lists
  as_root rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  as_root tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  say "imported $BASE_IMAGE"
}

JAVA_PACKAGES="openjdk-17-jdk-headless libpostgresql-jdbc-java libcommons-dbcp2-java libcommons-pool2-java libcommons-logging-java"
JAVA_JARS="postgresql commons-dbcp2 commons-pool2 commons-logging"

install_java() {
  local jar missing=""
  command -v javac >/dev/null || missing=1
  for jar in $JAVA_JARS; do [ -f "/usr/share/java/$jar.jar" ] || missing=1; done
  [ -z "$missing" ] && return
  command -v apt-get >/dev/null || { say "warning: no apt-get: install $JAVA_PACKAGES by hand for the JVM client"; return; }
  # shellcheck disable=SC2086 # a list of packages
  apt_install $JAVA_PACKAGES
}

guard_loopback() {
  # A warning, never a failure: the stack runs without it (README: Limits).
  local script; script="$(dirname "${BASH_SOURCE[0]}")/loopback-guard.sh"
  if [ "$(id -u)" -eq 0 ]; then bash "$script" ensure && return
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n bash "$script" ensure && return
  fi
  say "warning: the loopback guard is not in place: run 'sudo $script' (127.0.0.1-published ports stay reachable from hosts that route 127.0.0.1 here)"
}

command -v docker >/dev/null && command -v dockerd >/dev/null || install_engine
start_engine
install_plugins
check_disk
ensure_base_image
install_java
guard_loopback
say "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
