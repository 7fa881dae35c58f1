#!/bin/sh
# meterd image entry point, run under tini. The one container-specific
# default: when the host mounts /var/run/datadog (the Datadog agent's
# socket folder), listen on /var/run/datadog/dsd.socket too, writable by
# every local client as the Datadog agent makes it (0722), so services that
# send to the Datadog default socket need no change. Then exec the command,
# so meterd itself gets tini's signals.
set -e
if [ -d /var/run/datadog ] && [ -z "${DD_DOGSTATSD_SOCKET:-}${METERD_DOGSTATSD_SOCKET:-}" ]; then
    export DD_DOGSTATSD_SOCKET=/var/run/datadog/dsd.socket
    export METERD_DOGSTATSD_SOCKET_MODE="${METERD_DOGSTATSD_SOCKET_MODE:-0722}"
fi
exec "$@"
