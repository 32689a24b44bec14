#!/bin/sh
# One-shot init of the docker-compose stack's MinIO: buckets, the two team users and their policies.
# The policies are rendered from housing_stack/identities.py (the same definition the native stack's
# SeaweedFS uses): regenerate with `python -m housing_stack render-minio-policies`. Idempotent.
set -eu
mc alias set lake "http://minio:9000" "$ADMIN_AWS_ACCESS_KEY_ID" "$ADMIN_AWS_SECRET_ACCESS_KEY"
mc mb --ignore-existing "lake/$LAKE_BUCKET" "lake/$MLFLOW_BUCKET"

add_team() {  # identity name, access key, secret key
  mc admin policy create lake "$1" "/init/policies/$1.json"
  mc admin user add lake "$2" "$3"
  # attaching twice is an error in mc; a re-run finds it attached already
  mc admin policy attach lake "$1" --user "$2" || mc admin user info lake "$2" | grep -q "$1"
}
add_team data-team "$DATA_TEAM_AWS_ACCESS_KEY_ID" "$DATA_TEAM_AWS_SECRET_ACCESS_KEY"
add_team ml-team "$ML_TEAM_AWS_ACCESS_KEY_ID" "$ML_TEAM_AWS_SECRET_ACCESS_KEY"
echo "MinIO ready: buckets $LAKE_BUCKET, $MLFLOW_BUCKET; users data-team, ml-team"
