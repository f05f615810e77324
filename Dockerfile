# One image for every process of the stack; the command picks the process
# (`scops serve gateway|detector|remediator|notifier`, `scops worker`), as `make up` does.

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY scops ./scops
RUN pip install --no-cache-dir .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 scops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The remediation rules and the script catalogue are read from deploy/config relative to the
# working directory (SCOPS_RULES_PATH, SCOPS_SCRIPT_CATALOGUE_PATH); mount your own over them.
# .run/models (SCOPS_MODEL_DIR) exists and belongs to the service user, so a volume mounted
# there is writable.
COPY --chown=scops:scops deploy/config /home/scops/deploy/config
RUN mkdir -p /home/scops/.run/models && chown -R scops:scops /home/scops/.run
USER scops
WORKDIR /home/scops
# Services listen on every interface inside the container; the port comes from SCOPS_<NAME>_PORT.
ENV SCOPS_GATEWAY_HOST=0.0.0.0 SCOPS_DETECTOR_HOST=0.0.0.0 \
    SCOPS_REMEDIATOR_HOST=0.0.0.0 SCOPS_NOTIFIER_HOST=0.0.0.0 \
    SCOPS_HISTORY_HOST=0.0.0.0 SCOPS_COLLECTOR_HOST=0.0.0.0 \
    SCOPS_WORKER_METRICS_HOST=0.0.0.0
ENTRYPOINT ["scops"]
CMD ["serve", "gateway"]
