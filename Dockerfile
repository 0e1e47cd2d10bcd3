# msgd in a container (README, "Docker and Compose"). Not built or run in
# msgd's own tests (there is no Docker there): tests/e2e/packaging.test.mjs
# only checks its shape.
#   docker build --build-arg MSGD_COMMIT=$(git describe --always --dirty) -t msgd .
#   docker run -p 8080:8080 -v msgd-data:/var/lib/msgd -e MSGD_ADMIN_TOKEN=... msgd

# --- build: the -dev packages, the optimized binary ---
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc make pkg-config ca-certificates \
      libmicrohttpd-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev libssl-dev libconfig-dev \
      libcurl4-openssl-dev uthash-dev libsodium-dev libwslay-dev libyajl-dev libjwt-dev libqrencode-dev \
      libpng-dev libcsv-dev libzip-dev libexpat1-dev libmagic-dev libnats-dev librabbitmq-dev libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src ./src
COPY tools ./tools
COPY web ./web
ARG MSGD_COMMIT=unknown
RUN MSGD_COMMIT=$MSGD_COMMIT make -j"$(nproc)" build/msgd && strip build/msgd

# --- runtime: only the shared libraries msgd links, and a user of its own ---
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libmicrohttpd12 libevent-2.1-7 libevent-pthreads-2.1-7 libjansson4 libsqlite3-0 libpq5 libssl3 \
      libconfig9 libcurl4 libsodium23 libyajl2 libjwt0 libqrencode4 libpng16-16 libzip4 libexpat1 \
      libmagic1 libnats3.4 librabbitmq4 libsystemd0 libwslay1 libcsv3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/msgd --shell /usr/sbin/nologin msgd \
 && install -d -o msgd -g msgd -m 0700 /var/lib/msgd
COPY --from=build /src/build/msgd /usr/local/bin/msgd
ENV MSGD_LISTEN=0.0.0.0:8080 \
    MSGD_DATA=/var/lib/msgd
VOLUME ["/var/lib/msgd"]
EXPOSE 8080
USER msgd
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# msgd logs to stderr: `docker logs`; SIGTERM drains and stops it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/msgd"]
CMD ["serve"]
