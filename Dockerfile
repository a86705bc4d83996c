# syntax=docker/dockerfile:1
# Build stage: install the service and its dependencies into a virtual environment.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY drive_service ./drive_service
COPY generated ./generated
RUN pip install --no-cache-dir .

# Runtime stage: only the virtual environment, run as an unprivileged user.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/drive --create-home drive
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DRIVE_DATA_DIR=/var/lib/drive \
    DRIVE_LISTEN=0.0.0.0:50051
USER drive
WORKDIR /var/lib/drive
EXPOSE 50051
# Production: DATABASE_URL=postgresql+asyncpg://..., REDIS_URL=redis://...; for Prometheus set
# DRIVE_METRICS_LISTEN=0.0.0.0:9464 and publish that port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import grpc, sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; ch = grpc.insecure_channel('127.0.0.1:50051'); r = g.HealthStub(ch).Check(h.HealthCheckRequest(), timeout=4); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"]
CMD ["drive-service", "serve"]
