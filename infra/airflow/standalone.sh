#!/usr/bin/env bash
# Entry point of each team's Airflow container in docker-compose: the same `airflow standalone` as the
# native stack, with the deployment's accounts for the simple auth manager (UI and /auth/token): its own
# admin and the other team's read-only account (roles as infra/src/housing_stack/identities.py gives them).
set -euo pipefail
umask 077
passwords=/tmp/simple_auth_manager_passwords.json
python3 -c '
import json, os
accounts = [("AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"), ("AIRFLOW_READER_USER", "AIRFLOW_READER_PASSWORD")]
print(json.dumps({os.environ[user]: os.environ[password] for user, password in accounts}))
' > "$passwords"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$AIRFLOW_ADMIN_USER:admin,$AIRFLOW_READER_USER:viewer"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$passwords"
exec airflow standalone
