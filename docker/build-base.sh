#!/usr/bin/env bash
# Builds a local Debian 12 (bookworm) base image with debootstrap and imports
# it into podman's storage, for machines that cannot pull from a registry.
# It stands in for docker.io/library/debian:bookworm-slim, which is what
# docker/Dockerfile uses by default.
#
#   docker/build-base.sh [IMAGE]        (default: localhost/walship-base:bookworm)
#
# Idempotent: does nothing when IMAGE already exists. Needs root (debootstrap
# and chroot), debootstrap, podman, and Debian's package mirror
# (WALSHIP_DEBIAN_MIRROR, default http://deb.debian.org/debian).
# Storage driver: WALSHIP_STORAGE_DRIVER (default vfs, which works without
# overlay or fuse support; it must match what the storage was created with).
set -euo pipefail

IMAGE=${1:-localhost/walship-base:bookworm}
MIRROR=${WALSHIP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DRIVER=${WALSHIP_STORAGE_DRIVER:-vfs}
podman=(podman --storage-driver="$DRIVER")

for tool in debootstrap podman; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-base.sh: $tool is not installed (apt-get install debootstrap podman buildah; see .ci/install-deps)" >&2
    exit 69
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "build-base.sh: debootstrap needs root" >&2
  exit 77
fi

if "${podman[@]}" image exists "$IMAGE"; then
  echo "build-base.sh: $IMAGE exists; nothing to do"
  exit 0
fi

dir=$(mktemp -d /var/tmp/walship-base.XXXXXX)
chmod 0755 "$dir"   # the image's /: mktemp makes it 0700, which locks out non-root users
trap 'rm -rf "$dir"' EXIT

echo "build-base.sh: debootstrap --variant=minbase bookworm from $MIRROR"
start=$(date +%s)
debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$dir.log" 2>&1 || {
  tail -30 "$dir.log" >&2
  rm -f "$dir.log"
  echo "build-base.sh: debootstrap failed" >&2
  exit 1
}
rm -f "$dir.log"

# Trim what an image never needs, as the official slim images do.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
  "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
  "$dir"/usr/share/locale/* "$dir"/tmp/* 2>/dev/null || true
find "$dir/var/log" -type f -delete
# The mirror the image's apt uses, with security updates, like debian:bookworm-slim.
cat >"$dir/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# debootstrap leaves the host's resolv.conf and hostname behind; the runtime provides them.
: >"$dir/etc/resolv.conf"
rm -f "$dir/etc/hostname"

tar --numeric-owner -C "$dir" -c . |
  "${podman[@]}" import --quiet --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "build-base.sh: imported $IMAGE in $(( $(date +%s) - start )) s"
"${podman[@]}" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"
