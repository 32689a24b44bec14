#!/bin/sh
# The upstream image's contract for `server`: data under /data, one volume server with unlimited volumes.
set -e
if [ "${1:-}" = server ]; then
  shift
  exec /usr/bin/weed -logtostderr=true server -dir=/data -volume.max=0 \
    -master.volumeSizeLimitMB=1024 "$@"
fi
exec /usr/bin/weed "$@"
