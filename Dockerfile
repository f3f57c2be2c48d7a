# syntax=docker/dockerfile:1
#
# The ccm controller image: the project and its runtime dependencies, exactly as locked in
# uv.lock (no test, dev or demo extras), run as uid 65532.
#
#   docker build -t ghcr.io/ccm-dev/ccm:0.1.0 .
#
# Both stages use the same tag-pinned base, so the virtual environment built in the first
# runs unchanged in the second. Production builds should pin the digest as well
# (python:3.11.11-slim-bookworm@sha256:<digest>), so a re-pushed tag cannot change them.

FROM python:3.11.11-slim-bookworm AS build

# The uv that wrote uv.lock; pip fetches it from PyPI.
RUN pip install --no-cache-dir uv==0.13.10

ENV UV_PROJECT_ENVIRONMENT=/opt/ccm \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_NO_CACHE=1

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-editable --no-install-project

# Then the project itself, installed as a regular (non-editable) package, so /src is not
# needed at run time.
COPY README.md ./
COPY ccm ./ccm
COPY providers ./providers
RUN uv sync --locked --no-dev --no-editable


FROM python:3.11.11-slim-bookworm

RUN groupadd --system --gid 65532 ccm \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin ccm

COPY --from=build /opt/ccm /opt/ccm

ENV PATH=/opt/ccm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532

# Metrics, /healthz and /readyz (--metrics-addr 0.0.0.0:10258 in deploy/base).
EXPOSE 10258

ENTRYPOINT ["ccm"]
CMD ["--help"]
