# ChatGate container: the web app is built with Node, the runtime is slim Python.
# No Docker engine runs where ChatGate is developed, so this file stays a thin wrapper over the
# Makefile targets that the test suite exercises (`make web`, `make install-runtime`).
#   docker build -t chatgate .                          # without the bundled model
#   docker build -t chatgate --build-arg LOCAL_MODEL=1 . # with SmolLM2 (compiles llama.cpp, ~15 min)

FROM node:20-bookworm-slim AS web
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
COPY Makefile ./
COPY web ./web
RUN make web

FROM python:3.11-slim-bookworm AS runtime
ARG LOCAL_MODEL=0
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends make $( [ "$LOCAL_MODEL" = 1 ] && echo "build-essential cmake" ) \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md Makefile ./
COPY src ./src
COPY --from=web /src/src/chatgate/static ./src/chatgate/static
RUN make install-runtime PYTHON=python LOCAL_MODEL=$LOCAL_MODEL \
 && useradd --system --uid 10001 --home /data chatgate \
 && mkdir -p /data && chown chatgate /data
USER chatgate
ENV CHATGATE_DATA_DIR=/data CHATGATE_HOST=0.0.0.0 CHATGATE_PORT=3002
VOLUME /data
EXPOSE 3002
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3002/healthz', timeout=4).status == 200 else 1)"
CMD ["chatgate", "serve"]
