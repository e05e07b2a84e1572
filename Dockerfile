# One image for every process of the booking service; the compose command picks
# the process: `api`, `projector`, `relay`, `inbound` or `partners`.

# The web pages (GraphiQL and the SPA), built from web/'s lockfile; the image keeps only
# the built files, no Node.js.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TRAVELBUDDY_WEB_DIR=/srv/travelbuddy-web \
    TRAVELBUDDY_HOST=0.0.0.0

WORKDIR /src
# The dependencies at the versions (and hashes) of the lockfile, then the service itself.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY travelbuddy/ ./travelbuddy/
RUN pip install --no-cache-dir --no-deps . \
    && groupadd --system --gid 10001 travelbuddy \
    && useradd --system --uid 10001 --gid travelbuddy --create-home \
       --home-dir /home/travelbuddy --shell /usr/sbin/nologin travelbuddy
COPY --from=web /web/dist/ /srv/travelbuddy-web/

# The embedded default (no MONGODB_URL) keeps its files in the working
# directory, so it has to be one the service user can write.
WORKDIR /home/travelbuddy
USER 10001:10001

# The API (and its /metrics); each worker command serves /metrics on 9464
# (TRAVELBUDDY_METRICS_PORT).
EXPOSE 8000 9464

# No HEALTHCHECK here: only `api` serves /readyz, so a check baked into the
# image would mark the other processes unhealthy. docker-compose.yml gives the
# api its own.
ENTRYPOINT ["travelbuddy"]
CMD ["api"]
