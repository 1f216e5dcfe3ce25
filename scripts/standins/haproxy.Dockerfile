# Stand-in for the official `haproxy:2.6` image, for machines that cannot pull it
# (scripts/compose-images.sh builds it only then). Debian bookworm's haproxy is
# 2.6. Same configuration path (/usr/local/etc/haproxy/haproxy.cfg), same
# command as the official entrypoint produces (`haproxy -W -db -f …`: master-
# worker, foreground), same stop signal (SIGUSR1: soft stop), same user.
FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && install -d /usr/local/etc/haproxy
LABEL org.fanout.stand-in="haproxy:2.6 from Debian's haproxy"
STOPSIGNAL SIGUSR1
WORKDIR /var/lib/haproxy
USER haproxy
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
