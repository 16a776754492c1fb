# lucid in a small runtime image. Build: docker build -t lucid .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# The sandbox image's Dockerfile is embedded in the binary.
COPY sandbox-image ./sandbox-image
# Cargo reads every target the manifest declares, so these come along too.
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin lucid

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/lucid --create-home lucid
COPY --from=build /src/target/release/lucid /usr/local/bin/lucid
USER lucid
WORKDIR /var/lib/lucid
ENV LUCID_LISTEN=0.0.0.0:8080
EXPOSE 8080
# bash, not sh: Debian's sh (dash) has no /dev/tcp, so the check could never pass.
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["lucid"]
CMD ["serve"]
