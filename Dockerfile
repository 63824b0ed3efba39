# Image for docker-compose.yml: Airflow 3 plus this project, from the same lock file as `make`.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow
WORKDIR /opt/govwh
COPY requirements.lock pyproject.toml README.md ./
COPY ingest ./ingest
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache --compile-bytecode -r requirements.lock \
 && uv pip install --system --no-cache --no-deps -e .
COPY catalogue ./catalogue
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY data ./data
COPY deploy ./deploy
# Not root: the services run as this user (uid GOVWH_UID, group 0, as Airflow's own images do), and
# Compose runs them with the uid from .env, so the bind-mounted warehouse folder is the user's.
ARG GOVWH_UID=50000
RUN if [ "${GOVWH_UID}" != 0 ]; then \
      useradd --uid "${GOVWH_UID}" --gid 0 --home-dir /opt/airflow --create-home --shell /usr/sbin/nologin govwh; fi \
 && mkdir -p /opt/airflow /data && chown -R "${GOVWH_UID}:0" /opt/airflow /data && chmod -R g+rwX /opt/airflow /data
USER ${GOVWH_UID}:0
