# PostgreSQL from Debian's packages, for compose, the image tests and the chart's development
# database when no registry can provide the official image. It follows the official image's
# interface: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, data in /var/lib/postgresql/data,
# UID 999, the "database system is ready to accept connections" log line.

ARG DEBIAN_IMAGE=debian:12.11-slim

# postgres: one stage; the server needs its whole Debian userland at run time anyway.
FROM ${DEBIAN_IMAGE}

ARG PG_MAJOR=15
ARG SOURCE_DATE_EPOCH=0

# The user exists before the package so its UID is the official image's 999, and no default
# cluster is created: the entrypoint initialises one from the environment on first start.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data

COPY --chmod=0755 images/postgres/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8

LABEL org.opencontainers.image.title="todo-chatbot-postgres" \
      org.opencontainers.image.description="PostgreSQL ${PG_MAJOR} from Debian packages, official-image compatible"

VOLUME /var/lib/postgresql/data
EXPOSE 5432
# Fast shutdown: roll back open transactions and stop, as the official image does.
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
