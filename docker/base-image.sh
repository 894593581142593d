#!/usr/bin/env bash
# Makes the Debian base image the Dockerfile builds on available to podman on a machine that
# cannot reach a container registry but can reach Debian's package mirror (the project's CI):
# a minimal bookworm made with debootstrap, imported under the name the Dockerfile uses.
# Does nothing when the image is already there.
set -euo pipefail
image="${DEBIAN_IMAGE:-docker.io/library/debian:bookworm-slim}"
if podman image exists "$image"; then
    exit 0
fi
if podman pull -q "$image" >/dev/null 2>&1; then
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is needed to make $image" >&2; exit 1; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "made $image with debootstrap"
