#!/bin/sh
# Sets up the etcd role layout of fleet mode, then turns etcd authentication on:
#   root                  everything (etcd requires it before `auth enable`)
#   controller            readwrite /injector/desired/ and /injector/runs/; read /injector/agents/
#                         and /injector/status/ (to see who is registered and what they did)
#   agent-<host>          read /injector/desired/<host> (its own orders only) and /injector/runs/
#                         (the plans); readwrite /injector/status/<host> and /injector/agents/<host>
# Usage: fleet-etcd-roles.sh HOST...   (the plan hosts that run agents)
# etcdctl reads the endpoints and TLS material from ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT
# and ETCDCTL_KEY; passwords come from ROOT_PASSWORD, CONTROLLER_PASSWORD and AGENT_PASSWORD
# (agent-<host> gets AGENT_PASSWORD_<host with - as _> when set) and go to etcdctl on stdin,
# never on a command line.
set -eu
export ETCDCTL_API=3
: "${ROOT_PASSWORD:?}" "${CONTROLLER_PASSWORD:?}"

user() {  # user NAME PASSWORD [ROLE]
    printf '%s\n' "$2" | etcdctl user add "$1" --interactive=false >/dev/null
    [ -z "${3:-}" ] || etcdctl user grant-role "$1" "$3" >/dev/null
}
grant() { etcdctl role grant-permission "$@" >/dev/null; }

user root "$ROOT_PASSWORD"
etcdctl user grant-role root root >/dev/null 2>&1 || true  # etcd makes the root role on first use

etcdctl role add controller >/dev/null
grant controller --prefix=true readwrite /injector/desired/
grant controller --prefix=true readwrite /injector/runs/
grant controller --prefix=true read /injector/agents/
grant controller --prefix=true read /injector/status/
user controller "$CONTROLLER_PASSWORD" controller

for h in "$@"; do
    var="AGENT_PASSWORD_$(printf '%s' "$h" | tr -- '-.' '__')"
    eval "pw=\${$var:-\${AGENT_PASSWORD:?}}"
    etcdctl role add "agent-$h" >/dev/null
    grant "agent-$h" read "/injector/desired/$h"
    grant "agent-$h" --prefix=true read /injector/runs/
    grant "agent-$h" readwrite "/injector/status/$h"
    grant "agent-$h" readwrite "/injector/agents/$h"
    user "agent-$h" "$pw" "agent-$h"
done

etcdctl auth enable >/dev/null
echo "fleet-etcd-roles: root, controller and $# agent roles; authentication enabled"
