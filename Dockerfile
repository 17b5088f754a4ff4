# The gateway image for compose.yaml (not used by `make run` / `make test`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY gateway gateway
COPY connectors connectors
COPY consent_ledger consent_ledger
COPY audit audit
COPY policies policies
RUN pip install --no-cache-dir -c requirements.lock .
ENV CGW_HOST=0.0.0.0
EXPOSE 8080 2575
CMD ["sh", "-c", "consent-gateway db upgrade && consent-gateway serve"]
