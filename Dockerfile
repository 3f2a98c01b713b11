# One image for every Cadence process: the `cadence serve` replicas, the Ray head and the Ray
# workers (docker-compose.yml). Actors run our code in Ray's worker processes, so the head and
# workers must carry the same code and the same Ray as the servers: they do, by being this image.
# The install steps are the Makefile's (tests/scaleout/test_compose.py holds them equal).
FROM python:3.11-slim-bookworm

# WeasyPrint's Pango and the PDF fonts (server/devstack.py installs the same on a dev machine);
# OpenGL and GLib for MediaPipe's pose model.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core \
        libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Ray's workers import our packages from the server's working directory (actors/_pool/runtime.py).
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY server ./server
COPY realtime ./realtime
COPY actors ./actors
COPY storage ./storage
COPY pipelines ./pipelines
COPY migrations ./migrations
COPY bench ./bench
RUN pip install -q --upgrade pip \
    && pip install -q -e '.[dev]'

EXPOSE 8080
CMD ["cadence", "serve", "--host", "0.0.0.0", "--port", "8080"]
