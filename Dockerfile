# flashsale: the storefront image. Build: docker build -t flashsale .
# Run with compose.yaml (PostgreSQL + Redis), or alone on the embedded defaults for a quick look.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies only, read from pyproject.toml: this layer is rebuilt when they change, not the code.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt "setuptools>=69" wheel

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASHSALE_VAR_DIR=/app/var
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin flashsale
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY . .
# Editable, so that core/migrate.py finds alembic/ and alembic.ini beside core/ in /app.
RUN pip install --no-deps --no-build-isolation -e . \
    && mkdir -p /app/var && chown flashsale:flashsale /app/var
USER flashsale
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["flashsale", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
