# bando serve in a container: `docker build -t bando . && docker run --rm -p 127.0.0.1:8000:8000 bando`
# (docs/serve.md, "A container"). Stateless: run as many replicas as needed behind a load balancer.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY dsl ./dsl
COPY engine ./engine
RUN pip install .
# the shipped calls, served by default; mount your own folder over /app/policies (read-only) to serve yours
COPY .bando-root ./
COPY policies ./policies
COPY examples ./examples

# never as root
RUN useradd --system --uid 10001 --no-create-home bando
USER bando

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# 0.0.0.0 is the container's own network: publish the port on the host's loopback or behind a proxy
CMD ["bando", "serve", "/app/policies", "--host", "0.0.0.0", "--port", "8000"]
