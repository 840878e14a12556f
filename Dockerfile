# The HNY Inc. volunteers bot: one process serving /api/messages, /healthz and /metrics, and (unless
# RUN_WORKER=false) the delivery and calendar workers. Settings come from the environment: see docs/deploy.md.
# Logs are one JSON object per line (LOG_FORMAT=json), which needs LOG_ID_KEY: the same secret on every instance.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=3978 \
    LOG_FORMAT=json

WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cards ./cards
COPY dialogs ./dialogs
COPY storage ./storage
COPY manifest ./manifest
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot \
    && mkdir -p /app/var \
    && chown bot /app/var

USER bot
EXPOSE 3978

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3978') + '/healthz', timeout=5)"

# Without MICROSOFT_APP_ID and its credentials the bot refuses HOST=0.0.0.0 and exits with a one-line reason.
CMD ["sh", "-c", "python -m bot db upgrade && exec python -m bot run"]
