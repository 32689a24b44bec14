#!/usr/bin/env bash
# An Airflow subcommand as the first argument runs `airflow <subcommand> ...`; anything else runs as given.
set -euo pipefail
case "${1:-}" in
  api-server|scheduler|dag-processor|triggerer|standalone|celery|db|dags|tasks|connections|variables|pools|config|version|info|users)
    exec airflow "$@" ;;
esac
exec "$@"
