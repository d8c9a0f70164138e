# One image for all four services (the command picks the service). Builds on Debian 12 and
# keeps only the runtime libraries in the final stage; runs as a non-root user.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        pkg-config librdkafka-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev \
        libmicrohttpd-dev libssl-dev libcmocka-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j"$(nproc)" \
    --target socialcare-ingestor socialcare-classifier socialcare-escalation-router \
             socialcare-responder socialcare-reply-sink

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 libhiredis0.14 \
        libjansson4 libcurl4 libmicrohttpd12 libssl3 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 socialcare
COPY --from=build /src/build/bin/socialcare-* /usr/local/bin/
USER 10001
ENV HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
