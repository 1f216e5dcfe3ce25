# Fanout: one image, one binary. The same image runs every role; the
# compose file picks it with the command (`edge`, `worker`, `stats`).
#
#   docker build -t fanout .
#   docker run --rm fanout --help
#
# Swift runtime: we build with --static-swift-stdlib, so the Swift standard
# library, Foundation and Dispatch are linked into the binary. The runtime
# stage therefore needs no /usr/lib/swift/linux/*.so copied out of the
# build image, cannot hit an ABI mismatch between two toolchain versions,
# and stays small. Only C libraries the package links through pkg-config
# (libhiredis) remain dynamic and come from Debian.
#
# Where the binary comes from (build argument FANOUT_BINARY_FROM):
#   build     (default) compiled in the `build` stage below, in swift:6.2-bookworm;
#   prebuilt  taken from prebuilt/ in the build context: a binary built with
#             --static-swift-stdlib on a Debian bookworm machine, for machines
#             that cannot pull the Swift image (scripts/compose-images.sh;
#             Docs/decisions/0003-compose-image-binary.md). It needs BuildKit,
#             which builds only the stages the target uses.
# Either way the image is the one `runtime` stage at the end of this file.
ARG FANOUT_BINARY_FROM=build

# ---------------------------------------------------------------- build ---
# Package.swift declares swift-tools-version 6.2, so the toolchain must be
# 6.2 or newer; a 6.1 image would refuse the manifest.
# bookworm, because the runtime stage is bookworm too: libhiredis-dev here
# and libhiredis0.14 there are the same Debian release (same soname).
FROM swift:6.2-bookworm AS build

RUN export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libhiredis-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Resolve dependencies in their own layer: it is only rebuilt when the
# manifest or the lock file changes, not on every source edit.
COPY ./Package.* ./
RUN swift package resolve

COPY . .

RUN swift build -c release --product fanout --static-swift-stdlib

# Stage what the runtime image needs in one place:
#  - the binary;
#  - swift-backtrace-static, so a crash prints a symbolicated backtrace to
#    the container log instead of a bare "Illegal instruction".
WORKDIR /staging
RUN cp "$(swift build -c release --package-path /build --show-bin-path)/fanout" ./ \
    && cp /usr/libexec/swift/linux/swift-backtrace-static ./

# ------------------------------------------------------------- prebuilt ---
# The binary and swift-backtrace-static from prebuilt/ in the build context,
# in the same /staging layout as the build stage. `Dockerfile` is copied
# along only so that the legacy builder (docker-compose 1.29), which builds
# every stage even when unused, never sees a COPY without a source.
FROM scratch AS prebuilt
COPY Dockerfile prebuil[t] /staging/

# The stage the runtime copies its binary from.
FROM ${FANOUT_BINARY_FROM} AS binary

# -------------------------------------------------------------- runtime ---
FROM debian:bookworm-slim AS runtime

# libhiredis0.14: the Redis protocol parser the binary links dynamically.
# redis-tools: redis-cli, for debugging from inside a container.
# ca-certificates: for rediss:// or any outbound TLS.
# tzdata: Foundation date formatting with time zones.
RUN export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends \
        libhiredis0.14 \
        redis-tools \
        ca-certificates \
        tzdata \
    && rm -rf /var/lib/apt/lists/*

# Never run as root: the process only needs unprivileged ports (8080, 8081,
# 9090) and no file system writes outside its home.
RUN useradd --system --user-group --create-home --home-dir /app \
        --shell /usr/sbin/nologin fanout

COPY --from=binary --chown=root:root /staging/fanout /usr/local/bin/fanout
COPY --from=binary --chown=root:root /staging/swift-backtrace-static /usr/local/libexec/swift-backtrace-static

# Crash reports: no interactive debugger in a container, all threads, and
# never leak environment values (they may hold a Redis password).
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/libexec/swift-backtrace-static

USER fanout:fanout
WORKDIR /app

# 8080: edge WebSocket + HTTP (/readyz, /metrics). 8081 (edge, HAProxy
# agent-check) is internal and deliberately not listed as public.
# 9090: worker /metrics.
EXPOSE 8080 9090

ENTRYPOINT ["fanout"]
CMD ["edge"]
