# syntax=docker/dockerfile:1
# Purse server image: `docker build -t purse .` then `docker run -p 8080:8080 -v purse-data:/data purse`.
# Build stage: the release binary, built from the locked dependency set.
FROM rust:1.85-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p purse-server --bin purse \
    && cp target/release/purse /purse

# Runtime: Debian slim, non-root, the binary and CA certificates only.
FROM debian:bookworm-slim
# Unpinned on purpose: the security updates of the Debian release are wanted at every build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 purse \
    && useradd --system --uid 10001 --gid purse --home-dir /data --shell /usr/sbin/nologin purse \
    && mkdir -p /data \
    && chown purse:purse /data
COPY --from=build /purse /usr/local/bin/purse
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENV PURSE_LISTEN=0.0.0.0:8080 \
    PURSE_DATA_DIR=/data \
    PURSE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["purse"]
CMD ["serve"]
