# The KIP Sense application image: every service of docker-compose.yml runs `kipsense <subcommand>` from it.
FROM python:3.11-slim-bookworm

# pg_dump/pg_restore of the server's major version (15) for `kipsense db backup|restore`; mdbtools for
# `kipsense cells import` of Arbin .res files.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 mdbtools \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin kipsense
WORKDIR /app
COPY pyproject.toml README.md ./
COPY kipsense ./kipsense
COPY store ./store
COPY ingest ./ingest
COPY models ./models
COPY simulators ./simulators
COPY api ./api
COPY cellfiles ./cellfiles
RUN pip install --no-cache-dir . && rm -rf /root/.cache
COPY deploy/app/entrypoint.sh /usr/local/bin/kipsense-entrypoint
RUN chmod 0755 /usr/local/bin/kipsense-entrypoint

USER kipsense
ENV KIPSENSE_LOG_FORMAT=json PYTHONUNBUFFERED=1
ENTRYPOINT ["/usr/local/bin/kipsense-entrypoint"]
CMD ["kipsense", "--help"]
