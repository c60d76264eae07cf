#!/bin/sh
# The Docker image's command: nginx in front (port 8080, see nginx-container.conf), then gunicorn
# on 127.0.0.1:8000 behind it. gunicorn's sync workers never face a client themselves.
set -e
nginx -c /app/deploy/nginx-container.conf
exec gunicorn app:app
