#!/usr/bin/env bash
# Makes every image docker-compose.yml names available to the local Docker engine.
#
#   bash scripts/compose-images.sh
#
# - fanout:local is built from the project's Dockerfile. When the Swift build image
#   (swift:6.2-bookworm) can be pulled, the Dockerfile compiles the binary itself; otherwise the
#   binary is built on this machine and handed to the same Dockerfile's runtime stage
#   (FANOUT_BINARY_FROM=prebuilt; Docs/decisions/0003-compose-image-binary.md).
# - Every other image is used as it is when present, pulled when it can be, and otherwise replaced
#   by a stand-in of the same name built from Debian packages (scripts/standins/*.Dockerfile):
#   redis:7.0, haproxy:2.6, prom/prometheus. Their base, debian:bookworm-slim, is made with
#   debootstrap from the Debian mirror when it cannot be pulled either.
# - An image that can be had neither way (grafana/grafana) is named on a `unavailable:` line;
#   scripts/compose-test.sh leaves its service out.
#
# Idempotent: a second run reuses every image that exists and rebuilds fanout:local from Docker's
# layer cache (seconds when the binary is unchanged). Starts dockerd if none runs, and then stops
# it again at the end. Prints one line per image: `image NAME: present | pulled | stand-in built
# | built | unavailable (reason)`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/docker-engine.sh
source scripts/lib/docker-engine.sh

COMPOSE_FILE=docker-compose.yml
BASE_IMAGE=debian:bookworm-slim
SWIFT_IMAGE=swift:6.2-bookworm
FANOUT_IMAGE=fanout:local
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=.build-docker              # ignored by git and by .dockerignore
# Stand-ins: image name -> Dockerfile under scripts/standins/.
declare -A STANDIN=(
    ["redis:7.0"]=redis
    ["haproxy:2.6"]=haproxy
    ["prom/prometheus"]=prometheus
)

started=$SECONDS
rootfs=
cleanup() {
    if [[ -n $rootfs ]]; then rm -rf "$rootfs"; fi
    docker_engine_release
}
trap cleanup EXIT
if ! docker_engine_ensure; then
    echo "compose-images: no Docker engine: $DOCKER_ENGINE_PROBLEM" >&2
    exit 1
fi

# Whether `docker pull` can reach a registry at all; decided by the first pull, so that a machine
# without one spends a fraction of a second finding out, once.
registry=unknown

have() { docker image inspect "$1" >/dev/null 2>&1; }

try_pull() {
    local image=$1 output
    [[ $registry == unreachable ]] && return 1
    # Bounded: a registry that answers slowly must not hold the run; a real pull of these images
    # takes well under the bound on a normal connection.
    if output=$(timeout 600 docker pull -q "$image" 2>&1); then
        registry=reachable
        return 0
    fi
    echo "compose-images: cannot pull $image: $(tail -1 <<<"$output")"
    registry=unreachable
    return 1
}

report() { printf 'image %s: %s\n' "$1" "$2"; }

# -------------------------------------------------------------- base image ---
# debian:bookworm-slim from debootstrap: minbase (essential packages and apt), then what the
# official slim image leaves out (documentation, man pages, translations) and its apt settings.
debootstrap_base() {
    export PATH="$PATH:/usr/sbin:/sbin"
    command -v debootstrap >/dev/null 2>&1 || docker_engine_apt_install debootstrap
    rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/fanout-rootfs.XXXXXX")
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As in the official slim images: no documentation, manuals or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::AutoRemove::SuggestsImportant "false";
EOF
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian}/* "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
        "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    : >"$rootfs/etc/machine-id"
    # mktemp made the directory 0700, and it becomes the image's /: a non-root user could not
    # even reach /usr/bin.
    chmod 0755 "$rootfs"
    tar --numeric-owner -C "$rootfs" -c . |
        docker import --change 'CMD ["bash"]' \
            --change "LABEL org.fanout.stand-in=\"$BASE_IMAGE from debootstrap --variant=minbase bookworm\"" \
            - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    rootfs=
}

# ------------------------------------------------------------ fanout:local ---
# The binary: a debug build of the `fanout` product with the Swift runtime linked in
# (--static-swift-stdlib), in a build directory of its own (.build-docker/swift): a cold build
# the first time (about 4 minutes on 2 cores), incremental after that. Not the test build's
# .build: SwiftPM mixes static and dynamic objects there, after which the next ordinary build
# fails to link. Docs/decisions/0003-compose-image-binary.md has the measurements.
CONTEXT=$WORK/context
SWIFT_SCRATCH=$WORK/swift
prebuilt_context() {
    local context=$CONTEXT bin log=$WORK/swift-build.log
    echo "compose-images: building the fanout binary on this machine" \
        "(swift build --product fanout --static-swift-stdlib --scratch-path $SWIFT_SCRATCH)"
    local build_started=$SECONDS
    if ! swift build --product fanout --static-swift-stdlib --scratch-path "$SWIFT_SCRATCH" >"$log" 2>&1; then
        tail -30 "$log" >&2
        return 1
    fi
    echo "compose-images: fanout binary built in $((SECONDS - build_started)) s"
    bin=$(swift build --static-swift-stdlib --scratch-path "$SWIFT_SCRATCH" --show-bin-path)
    rm -rf "$context"
    mkdir -p "$context/prebuilt"
    cp Dockerfile "$context/Dockerfile"
    cp "$bin/fanout" "$context/prebuilt/fanout"
    local toolchain
    toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
    cp "$toolchain/libexec/swift/linux/swift-backtrace-static" "$context/prebuilt/"
}

# BuildKit builds only the stages the chosen binary stage needs, so the prebuilt path never
# touches the Swift image. Docker's own CLI uses it through buildx; Debian's docker.io CLI
# (/usr/bin/docker, 20.10) has it built in.
buildkit_build() {
    if docker buildx version >/dev/null 2>&1; then
        docker buildx build --load "$@"
    elif [[ -x /usr/bin/docker ]]; then
        DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"
    else
        echo "compose-images: no Docker CLI with BuildKit (buildx, or Debian's docker.io)" >&2
        return 1
    fi
}

build_fanout() {
    if have "$SWIFT_IMAGE" || try_pull "$SWIFT_IMAGE"; then
        docker build -t "$FANOUT_IMAGE" . >"$WORK/fanout-image.log" 2>&1 || { tail -30 "$WORK/fanout-image.log" >&2; return 1; }
        report "$FANOUT_IMAGE" "built (Dockerfile, binary compiled in $SWIFT_IMAGE)"
        return 0
    fi
    prebuilt_context
    buildkit_build --build-arg FANOUT_BINARY_FROM=prebuilt -t "$FANOUT_IMAGE" -f "$CONTEXT/Dockerfile" "$CONTEXT" \
        >"$WORK/fanout-image.log" 2>&1 || { tail -30 "$WORK/fanout-image.log" >&2; return 1; }
    # Every library the binary needs must be in the image: ldd inside it, not on this machine.
    local libs
    libs=$(docker run --rm --entrypoint ldd "$FANOUT_IMAGE" /usr/local/bin/fanout)
    if grep -q "not found" <<<"$libs"; then
        echo "compose-images: $FANOUT_IMAGE lacks libraries its binary needs:" >&2
        grep "not found" <<<"$libs" >&2
        return 1
    fi
    report "$FANOUT_IMAGE" "built (Dockerfile runtime stage, binary built on this machine; ldd in the image: $(awk '{print $1}' <<<"$libs" | grep -v '^linux-vdso' | paste -sd ' '))"
}

# ----------------------------------------------------------------- images ---
mkdir -p "$WORK"
mapfile -t images < <(docker-compose -f "$COMPOSE_FILE" config |
    python3 -c 'import sys, yaml; print("\n".join(sorted({s["image"] for s in yaml.safe_load(sys.stdin)["services"].values() if "image" in s})))')

if have "$BASE_IMAGE"; then
    report "$BASE_IMAGE" "present"
elif try_pull "$BASE_IMAGE"; then
    report "$BASE_IMAGE" "pulled"
else
    debootstrap_base
    report "$BASE_IMAGE" "stand-in built (debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR)"
fi

unavailable=()
for image in "${images[@]}"; do
    if [[ $image == "$FANOUT_IMAGE" ]]; then
        build_fanout
    elif have "$image"; then
        report "$image" "present"
    elif try_pull "$image"; then
        report "$image" "pulled"
    elif [[ -n ${STANDIN[$image]:-} ]]; then
        buildkit_build -t "$image" -f "scripts/standins/${STANDIN[$image]}.Dockerfile" scripts/standins \
            >"$WORK/standin-${STANDIN[$image]}.log" 2>&1 || { tail -30 "$WORK/standin-${STANDIN[$image]}.log" >&2; exit 1; }
        report "$image" "stand-in built (scripts/standins/${STANDIN[$image]}.Dockerfile)"
    else
        report "$image" "unavailable (cannot be pulled, no stand-in)"
        unavailable+=("$image")
    fi
done

echo "compose-images: done in $((SECONDS - started)) s${unavailable[*]:+; unavailable: ${unavailable[*]}}"
