#!/usr/bin/env bash
# Entry point of each team's Airflow container in docker-compose: the same `airflow standalone` as the
# native stack, with the stack's user and password for the simple auth manager (UI and /auth/token).
set -euo pipefail
passwords=/tmp/simple_auth_manager_passwords.json
printf '{"%s": "%s"}\n' "$AIRFLOW_USER" "$AIRFLOW_PASSWORD" > "$passwords"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$AIRFLOW_USER:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$passwords"
exec airflow standalone
