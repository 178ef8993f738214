#!/usr/bin/env bash
# Make this (Debian, root) machine run docker/compose.yaml without Docker and without an
# image registry: podman from Debian's packages, configured for a sandbox, and a base
# image built from Debian's packages with debootstrap (docs/decisions/docker.md).
#
#   docker/podman-host.sh [BASE_TAG]     (default localhost/catallax-base:bookworm)
#
# Then build and run with that base, e.g.
#   CATALLAX_BASE=localhost/catallax-base:bookworm \
#   MOSQUITTO_BASE=localhost/catallax-base:bookworm \
#   podman-compose -f docker/compose.yaml up
#
# Idempotent: packages, configuration and the base image are made only when missing
# (the base takes about a minute of debootstrap once; later runs reuse it).
set -euo pipefail

base=${1:-localhost/catallax-base:bookworm}

if [ "$(id -u)" != 0 ]; then
    echo "podman-host.sh: run as root (it installs packages and configures podman)" >&2
    exit 2
fi

missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

# The sandbox refuses crun (hybrid cgroups) and the default ulimits; builds must trust
# the host's certificate authorities (HTTPS passes a proxy whose CA only the host has),
# and a volume in containers.conf is mounted in every container and build step.
conf=/etc/containers/containers.conf.d/50-catallax.conf
if [ ! -f "$conf" ]; then
    mkdir -p "$(dirname "$conf")"
    cat >"$conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
volumes = ["/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
fi

if ! podman image exists "$base"; then
    rootfs=$(mktemp -d /var/tmp/catallax-base.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    # Debian bookworm's python3 is 3.11, as python:3.11-slim's.
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
        bookworm "$rootfs" >/dev/null
    tar -C "$rootfs" -c . | podman import --quiet - "$base" >/dev/null
fi
echo "podman ready; base image $base"
