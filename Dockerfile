# bansou: one image for every process type (web, worker, release). See the README's Deploy section.
#   docker build -t bansou .
#   docker run --env-file .env -p 8000:8000 bansou                 # web
#   docker run --env-file .env bansou bansou worker                # the one worker
#   docker run --env-file .env bansou bansou db upgrade            # release phase
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot/__init__.py bot/__init__.py
COPY handlers/__init__.py handlers/__init__.py
RUN pip install . && pip uninstall -y bansou

COPY bot bot
COPY handlers handlers
COPY content content
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin bansou \
    && mkdir -p /app/data && chown bansou /app/data

# The code runs from /app: the web chat's page and static files and the content/ folder are not
# Python modules, and /app holds them beside the code (the installed copy supplies the `bansou`
# command and the dependencies).
ENV PYTHONPATH=/app \
    CONTENT_DIR=/app/content \
    PORT=8000 \
    DATABASE_URL=sqlite:////app/data/bansou.db

USER bansou
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=4)" || exit 1

# PORT comes from the environment (platforms set it); bind every interface inside the container.
# The scheduler runs in this process unless told otherwise: one container is a whole bot. With a
# separate worker, run the web as `bansou serve --host 0.0.0.0 --no-scheduler` (render.yaml does).
CMD ["bansou", "serve", "--host", "0.0.0.0"]
