#!/bin/sh
# Makes a stand-in for python:3.11-slim-bookworm from Debian alone, for machines that reach
# Debian and PyPI but no container registry: Debian 12 minbase, Debian's python3.11, and a
# venv on PATH (as the official image has its own Python on PATH).
#   build/local-base.sh [TAG]      (default TAG: localhost/greenkfp-base:3.11-bookworm)
# then:  make image BASE_IMAGE=localhost/greenkfp-base:3.11-bookworm
# Needs root (debootstrap), debootstrap and podman or docker.
set -eu
TAG="${1:-localhost/greenkfp-base:3.11-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ENGINE="${CONTAINER:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"

rootfs="$(mktemp -d)"
context="$(mktemp -d)"
trap 'rm -rf "$rootfs" "$context"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR"
chmod 755 "$rootfs"  # it becomes /: mktemp made it 0700, which locks out every other user
tar -C "$rootfs" -c . | "$ENGINE" import - localhost/debian-minbase:bookworm

"$ENGINE" build ${BUILD_FLAGS:-} -t "$TAG" -f - "$context" <<'EOF'
FROM localhost/debian-minbase:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/python
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
CMD ["python3"]
EOF
echo "$TAG"
