# Stand-in for the official `prom/prometheus` image, for machines that cannot
# pull it (scripts/compose-images.sh builds it only then), from Debian
# bookworm's prometheus package. Same entrypoint (/bin/prometheus), the same
# default flags, the same configuration path (/etc/prometheus/prometheus.yml,
# which compose mounts), storage in the volume /prometheus, user nobody.
FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o nobody -g nogroup /prometheus
LABEL org.fanout.stand-in="prom/prometheus from Debian's prometheus"
VOLUME /prometheus
WORKDIR /prometheus
USER nobody
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.console.libraries=/usr/share/prometheus/console_libraries", \
     "--web.console.templates=/usr/share/prometheus/consoles"]
