# Stand-in for the official `redis:7.0` image, for machines that cannot pull it
# (scripts/compose-images.sh builds it only then). Debian bookworm's redis-server
# is Redis 7.0. It keeps what docker-compose.yml relies on: `redis-server` and
# `redis-cli` on PATH, the data directory /data (a volume), port 6379, and an
# unprivileged user (the official image drops to `redis` in its entrypoint).
FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o redis -g redis /data
LABEL org.fanout.stand-in="redis:7.0 from Debian's redis-server"
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
