#!/usr/bin/env bash
# Builds the walship image with buildah, on a machine without a Docker engine
# or registry access (rootful, vfs storage, chroot isolation).
#
#   docker/build.sh [IMAGE]             (default: localhost/walship:<package.json version>)
#
# Environment:
#   WALSHIP_BASE            base image for both stages (default: localhost/walship-base:bookworm,
#                           made by docker/build-base.sh when missing; set it to
#                           docker.io/library/debian:bookworm-slim where a registry is reachable)
#   WALSHIP_NPM_CACHE       npm cache directory to bind-mount into the build stage, so
#                           `npm ci` can work offline (default: the host's `npm config get cache`
#                           when it exists; "none" to install from the registry only)
#   WALSHIP_BUILD_CA_FILE   a CA bundle the build stage's npm trusts besides its own, for a
#                           TLS-inspecting proxy (default: $NODE_EXTRA_CA_CERTS when set,
#                           else the host's /etc/ssl/certs/ca-certificates.crt;
#                           "none" for no extra CA). Mounted for the build only.
#   WALSHIP_STORAGE_DRIVER  containers/storage driver (default vfs)
#   WALSHIP_PG_MAJOR        build the restore-drill variant with that PostgreSQL major's
#                           server (--build-arg PG_MAJOR, e.g. 15); empty (default): none.
#                           The layers before the PostgreSQL install are the default
#                           image's, so after one build the variant reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
IMAGE=${1:-localhost/walship:${version:-dev}}
BASE=${WALSHIP_BASE:-localhost/walship-base:bookworm}
DRIVER=${WALSHIP_STORAGE_DRIVER:-vfs}

if ! command -v buildah >/dev/null; then
  echo "build.sh: buildah is not installed (apt-get install buildah podman debootstrap; see .ci/install-deps)" >&2
  exit 69
fi

if [ -z "${WALSHIP_BASE:-}" ]; then
  docker/build-base.sh "$BASE"
fi

# npm opens many files at once; the chroot builder otherwise inherits a low limit.
args=(--storage-driver="$DRIVER" bud --isolation=chroot --layers --ulimit nofile=20000:20000
  --file docker/Dockerfile --ignorefile docker/Dockerfile.dockerignore
  --build-arg BASE="$BASE" --tag "$IMAGE")
if [ -n "${WALSHIP_PG_MAJOR:-}" ]; then
  case $WALSHIP_PG_MAJOR in
    *[!0-9]*) echo "build.sh: WALSHIP_PG_MAJOR must be a PostgreSQL major version such as 15, not '$WALSHIP_PG_MAJOR'" >&2; exit 64 ;;
  esac
  args+=(--build-arg PG_MAJOR="$WALSHIP_PG_MAJOR")
  echo "build.sh: the restore-drill variant, with PostgreSQL $WALSHIP_PG_MAJOR's server"
fi

cache=${WALSHIP_NPM_CACHE:-}
if [ -z "$cache" ] && command -v npm >/dev/null; then
  cache=$(npm config get cache 2>/dev/null || true)
fi
if [ -n "$cache" ] && [ "$cache" != none ] && [ -d "$cache" ]; then
  args+=(--volume "$cache:/npm-cache" --build-arg NPM_CACHE_DIR=/npm-cache)
  echo "build.sh: using the npm cache $cache"
fi

ca=${WALSHIP_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}}
# Without either, trust what the host trusts: a proxy's CA is usually in the system bundle.
if [ -z "$ca" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then ca=/etc/ssl/certs/ca-certificates.crt; fi
if [ -n "$ca" ] && [ "$ca" != none ] && [ -f "$ca" ]; then
  args+=(--volume "$(readlink -f "$ca"):/build-ca.crt:ro" --build-arg BUILD_CA_FILE=/build-ca.crt)
  echo "build.sh: the build stage trusts the extra CA bundle $ca"
fi

# Each build leaves the image it replaced and its build stage untagged: with
# vfs storage about 1.2 GB a build, which filled a CI machine's disk after a
# few dozen runs. Those of earlier builds go once this one has succeeded (it
# may take its cache from them); this build's stay as the next one's cache.
earlier=$(buildah --storage-driver="$DRIVER" images --quiet --filter dangling=true)

start=$(date +%s)
buildah "${args[@]}" .
echo "build.sh: built $IMAGE from $BASE in $(( $(date +%s) - start )) s"
for id in $earlier; do
  # A layer another image still builds on stays; that refusal is expected.
  buildah --storage-driver="$DRIVER" rmi "$id" >/dev/null 2>&1 || true
done
buildah --storage-driver="$DRIVER" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
