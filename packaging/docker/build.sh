#!/usr/bin/env bash
# Build the meterd image as meterd:latest and meterd:<version> on the Docker
# daemon named by DOCKER_HOST (the default socket when unset).
#
# There may be no registry to pull from: when debian:bookworm-slim is not on
# the daemon, it is made here from Debian's packages with mmdebstrap
# (minbase) and imported under that name. The build context is the source
# tree sent as a tar stream, without .git and build folders, so it stays
# small and does not depend on a .dockerignore.
# Usage: packaging/docker/build.sh [extra docker build args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin is needed

version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)
[ -n "$version" ] || { echo "build.sh: no version in meson.build" >&2; exit 1; }

# METERD_BASE_TAR=FILE keeps the mmdebstrap output between runs (tests use it).
base_tar=${METERD_BASE_TAR:-}
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1 &&
   ! timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    if [ -z "$base_tar" ] || [ ! -s "$base_tar" ]; then
        command -v mmdebstrap >/dev/null || { echo "build.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        echo "build.sh: making debian:bookworm-slim with mmdebstrap" >&2
        mmdebstrap --variant=minbase --quiet bookworm "$tmp/base.tar"
        if [ -n "$base_tar" ]; then mv "$tmp/base.tar" "$base_tar"; else base_tar=$tmp/base.tar; fi
    fi
    docker import "$base_tar" debian:bookworm-slim >/dev/null
fi

tar -c --exclude-vcs --exclude='./build*' --exclude='*/node_modules' --exclude='./tests' \
    --exclude='./bench/out*' . |
    docker build --network host -q -f packaging/docker/Dockerfile --build-arg VERSION="$version" \
        -t "meterd:$version" -t meterd:latest "$@" - >/dev/null
# The build stage's image is only a cache for the next build; drop it.
docker image prune -f --filter label=meterd.stage=build >/dev/null
echo "meterd:$version meterd:latest"
