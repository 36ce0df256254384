FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN useradd --create-home --uid 1000 app
# The runtime dependencies from their lock, each file checked against its hash
# (docs/adr/0007-lock-file.md); this layer is rebuilt only when the lock changes.
# --no-deps: the lock is the whole graph; `pip check` below proves it.
COPY requirements/base.lock ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/base.lock
COPY pyproject.toml README.md ./
COPY config ./config
COPY apps ./apps
# The project adds no package: built with the locked setuptools, nothing downloaded.
RUN pip install --no-deps --no-build-isolation . && pip check
COPY . .
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input
# Uploaded files (MEDIA_ROOT in docker-compose.yml): a new named volume mounted here takes
# this folder's owner, so the app user can write to it.
RUN mkdir -p /app/media && chown app:app /app/media

USER app
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
