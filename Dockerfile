# The KIP Sense application image: every application service of docker-compose.yml runs `kipsense <subcommand>`
# from it. BASE_IMAGE is any Debian 12 (bookworm) image: the official Python image by default, or a plain
# Debian root file system (deploy/test/run.sh builds one with debootstrap), whose Python 3.11 is installed here.
ARG BASE_IMAGE=docker.io/library/python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE}

# Only for a build network behind a TLS-inspecting proxy: the CA file pip should trust (mount it with the build).
ARG PIP_CERT=

# pg_dump/pg_restore of the server's major version (15) for `kipsense db backup|restore`; mdbtools for
# `kipsense cells import` of Arbin .res files; Debian's Python when the base image has none.
RUN set -eu; apt-get update; \
    extra=""; command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null \
      || extra="python3 python3-venv"; \
    apt-get install -y --no-install-recommends postgresql-client-15 mdbtools ca-certificates $extra; \
    rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin kipsense \
    && install -d -o 10001 -g 10001 /backups /spool /state /mosquitto/auth
WORKDIR /app

# Pinned dependencies first (a layer that changes only with the lock file), then the project without resolving.
COPY requirements.lock ./
RUN python3 -m venv /opt/kipsense \
    && /opt/kipsense/bin/pip install --no-cache-dir -q -r requirements.lock \
    && rm -rf /root/.cache
ENV PATH=/opt/kipsense/bin:$PATH
COPY pyproject.toml README.md ./
COPY kipsense ./kipsense
COPY store ./store
COPY ingest ./ingest
COPY models ./models
COPY simulators ./simulators
COPY api ./api
COPY cellfiles ./cellfiles
COPY lake ./lake
COPY notify ./notify
RUN pip install --no-cache-dir -q --no-deps . && pip check && rm -rf /root/.cache build
COPY deploy/app/entrypoint.sh /usr/local/bin/kipsense-entrypoint
RUN chmod 0755 /usr/local/bin/kipsense-entrypoint

USER kipsense
ENV KIPSENSE_LOG_FORMAT=json PYTHONUNBUFFERED=1
ENTRYPOINT ["/usr/local/bin/kipsense-entrypoint"]
CMD ["kipsense", "--help"]
