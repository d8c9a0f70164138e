# syntax=docker/dockerfile:1
# One image for all four services and the reply sink (the command picks the program:
# socialcare-ingestor, socialcare-classifier, socialcare-escalation-router,
# socialcare-responder, socialcare-reply-sink). Builds on Debian 12 and keeps only the
# runtime libraries in the final stage (the packages that own the shared libraries the
# binaries load, found with ldd), runs as the non-root user 10001 and works with a
# read-only root filesystem. Build: docker build -t socialcare:dev .
ARG DEBIAN=debian:12-slim

FROM ${DEBIAN} AS build
# The build packages: the base list plus the -dev packages areas add in scripts/deps/.
COPY scripts/deps/ /tmp/deps/
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
        librdkafka-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev \
        libmicrohttpd-dev libssl-dev libcmocka-dev \
        $(cat /tmp/deps/*.txt 2>/dev/null | sed -e 's/#.*//' | grep -- '-dev$' || true) \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore keeps .git, build trees and node_modules out of the context.
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build /build -j"$(nproc)" --target socialcare-ingestor socialcare-classifier \
        socialcare-escalation-router socialcare-responder socialcare-reply-sink \
    && mkdir -p /out/bin /out/share \
    && for p in ingestor classifier escalation-router responder reply-sink; do \
        cp /build/bin/socialcare-$p /out/bin/; done \
    && /out/bin/socialcare-classifier --version \
    && for d in config models; do if [ -d "$d" ]; then cp -r "$d" /out/share/; fi; done \
    && for b in /out/bin/*; do ldd "$b"; done | awk '/=> \//{print $3}' | sort -u \
        | while read -r lib; do p=$(readlink -f "$lib"); \
            dpkg -S "$p" 2>/dev/null || dpkg -S "${p#/usr}"; done \
        | cut -d: -f1 | sort -u >/out/runtime-packages \
    && cat /out/runtime-packages

FROM ${DEBIAN}
# Runtime libraries only (no compilers, no development packages); curl for HEALTHCHECK.
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
        $(cat /tmp/runtime-packages) \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
    && groupadd --system --gid 10001 socialcare \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin socialcare
COPY --from=build /out/bin/ /usr/local/bin/
# Data files of the services (classifier models, routing configuration), read-only. The
# working directory is their parent, so the services' relative defaults (e.g.
# CLASSIFIER_MODEL=models/airline.scm) resolve as they do in the repository.
COPY --from=build /out/share/ /usr/share/socialcare/
WORKDIR /usr/share/socialcare
USER 10001:10001
ENV HTTP_PORT=8080
EXPOSE 8080
# SIGTERM drains (finish the batch, commit, flush) within DRAIN_TIMEOUT_MS (10 s): give
# the container longer than that to stop (docker stop -t 30, compose stop_grace_period,
# Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${HTTP_PORT}/healthz" || exit 1
CMD ["socialcare-ingestor"]
