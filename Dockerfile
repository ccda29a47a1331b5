# callsync's container image: a build stage with the Rust toolchain, and a small runtime
# stage (distroless: glibc and CA certificates, no shell, no package manager) that runs
# the one `callsync` binary as a non-root user. See docs/deploy.md.
#
#   docker build -t callsync .
#   docker run -p 8080:8080 -e CALLSYNC_SECRET_KEY=... callsync

# ---- build --------------------------------------------------------------------------------
FROM rust:1.88-bookworm AS build
WORKDIR /src
# The workspace as .dockerignore leaves it (no target/, no .git, no local databases).
COPY . .
# Only the service binary: the soak and scale harnesses and the benchmarks are not shipped.
# The release profile keeps line tables (Cargo.toml); they are split off into
# /out/callsync.debug (kept in this stage, linked by .gnu_debuglink) so the image ships a
# binary of about 30 MB instead of 135 MB, and a backtrace can still be symbolised.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p callsync --bin callsync \
    && mkdir -p /out \
    && objcopy --only-keep-debug target/release/callsync /out/callsync.debug \
    && objcopy --strip-debug --add-gnu-debuglink=/out/callsync.debug \
        target/release/callsync /out/callsync \
    && chmod 0755 /out/callsync \
    && install -d -m 0700 /out/data

# ---- runtime ------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/callsync /usr/local/bin/callsync
# SQLite (the default) and its key file live here; mount a volume to keep them.
COPY --from=build --chown=65532:65532 /out/data /var/lib/callsync
WORKDIR /var/lib/callsync
USER 65532:65532
ENV CALLSYNC_DATABASE_URL="sqlite:///var/lib/callsync/callsync.sqlite?mode=rwc" \
    CALLSYNC_LISTEN="0.0.0.0:8080" \
    CALLSYNC_METRICS_LISTEN="0.0.0.0:9184" \
    CALLSYNC_LOG_FORMAT="json"
EXPOSE 8080 9184
VOLUME ["/var/lib/callsync"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/callsync", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/callsync"]
CMD ["serve"]
