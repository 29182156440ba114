#!/usr/bin/env bash
# The Run:ai variant in one command: check every variable the guide's steps need, default IMAGE,
# check a resource snippet against the limits, render both files with envsubst, and apply them.
#
#   deploy/k8s/deploy.sh [--dry-run] [--resources FILE [--container NAME]]
#
#   --dry-run          render and check only; print the manifests (Secret values masked)
#   --resources FILE   a container's `resources:` (requests/limits), e.g. the guide's snippet,
#                      merged into the container named by --container (default monitor-sidecar)
#
# Required: RUNAI_PROJECT, RUNAI_JOB_NAME, RUNAI_BASE_URL, and one pair of credentials:
# RUNAI_CLIENT_ID/RUNAI_CLIENT_SECRET (a service account or access key, Run:ai 2.20+) or
# RUNAI_APP_ID/RUNAI_APP_SECRET (an application: the only kind on 2.18/2.19).
# Optional: IMAGE (default runai-failure-analysis:<version of pyproject.toml>), NVIDIA_API_KEY
# (empty: deterministic answers, no LLM), AGENT_API_TOKEN (unset: a random one is generated). Needs kubectl (1.22+: its kustomize, server-side apply)
# and envsubst (gettext). Each problem is one `ERROR:` line on stderr, and nothing is applied.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KUBECTL=${KUBECTL:-kubectl}
# The credentials' pair is chosen below: an application's when RUNAI_APP_ID or RUNAI_APP_SECRET
# is set, else a service account's (the sidecar refuses both at once, so we do too).
if [[ -n "${RUNAI_APP_ID:-}${RUNAI_APP_SECRET:-}" ]]; then
  CREDENTIALS=(RUNAI_APP_ID RUNAI_APP_SECRET); OTHER=(RUNAI_CLIENT_ID RUNAI_CLIENT_SECRET)
else
  CREDENTIALS=(RUNAI_CLIENT_ID RUNAI_CLIENT_SECRET); OTHER=(RUNAI_APP_ID RUNAI_APP_SECRET)
fi
REQUIRED=(RUNAI_PROJECT RUNAI_JOB_NAME RUNAI_BASE_URL "${CREDENTIALS[@]}")
OPTIONAL=(IMAGE NVIDIA_API_KEY AGENT_API_TOKEN)

declare -A HINT=(
  [RUNAI_PROJECT]="the Run:ai project to deploy into (its namespace is runai-<project>)"
  [RUNAI_JOB_NAME]="the name of the workload, e.g. runai-agent"
  [RUNAI_BASE_URL]="your control plane's URL, e.g. https://mycompany.run.ai"
  [RUNAI_CLIENT_ID]="the client ID of the Run:ai service account or access key the sidecar signs in with (on 2.18/2.19: an application's, as RUNAI_APP_ID/RUNAI_APP_SECRET)"
  [RUNAI_CLIENT_SECRET]="its secret (read -rs RUNAI_CLIENT_SECRET && export RUNAI_CLIENT_SECRET)"
  [RUNAI_APP_ID]="the ID of the Run:ai application the sidecar signs in with"
  [RUNAI_APP_SECRET]="that application's secret (read -rs RUNAI_APP_SECRET && export RUNAI_APP_SECRET)"
)

die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

dry_run=0
resources_file=""
container="monitor-sidecar"
while (($#)); do
  case "$1" in
    --dry-run|--render-only) dry_run=1 ;;
    --resources) (($# >= 2)) || die "--resources needs a FILE"; resources_file=$2; shift ;;
    --container) (($# >= 2)) || die "--container needs a NAME"; container=$2; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see $0 --help)" ;;
  esac
  shift
done

# ---- the variables: every missing one is named, then we stop ----
missing=0
for name in "${REQUIRED[@]}"; do
  if [[ -z "${!name:-}" ]]; then
    printf 'ERROR: %s is not set: %s\n' "$name" "${HINT[$name]}" >&2
    missing=1
  fi
done
((missing == 0)) || exit 1
for name in "${OTHER[@]}"; do
  [[ -z "${!name:-}" ]] \
    || die "set RUNAI_CLIENT_ID/RUNAI_CLIENT_SECRET or RUNAI_APP_ID/RUNAI_APP_SECRET, not both ($name is set)"
done
# Unset, the other pair renders as empty Secret values, which the sidecar reads as not given.
export RUNAI_CLIENT_ID="${RUNAI_CLIENT_ID:-}" RUNAI_CLIENT_SECRET="${RUNAI_CLIENT_SECRET:-}"
export RUNAI_APP_ID="${RUNAI_APP_ID:-}" RUNAI_APP_SECRET="${RUNAI_APP_SECRET:-}"

for name in "${REQUIRED[@]}" "${OPTIONAL[@]}"; do
  case "${!name:-}" in *$'\n'*) die "$name holds a line break; export it on one line" ;; esac
done
dns_label='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
[[ $RUNAI_PROJECT =~ $dns_label && ${#RUNAI_PROJECT} -le 57 ]] \
  || die "RUNAI_PROJECT=$RUNAI_PROJECT is not a Run:ai project name (lower-case letters, digits and '-', at most 57)"
[[ $RUNAI_JOB_NAME =~ $dns_label && ${#RUNAI_JOB_NAME} -le 54 ]] \
  || die "RUNAI_JOB_NAME=$RUNAI_JOB_NAME is not a valid name (lower-case letters, digits and '-', at most 54)"
[[ $RUNAI_BASE_URL =~ ^https?://[^/@[:space:]]+ ]] \
  || die "RUNAI_BASE_URL must be the control plane's URL, https://<host>[:port] (without credentials)"

# ---- IMAGE: the release of this checkout unless set ----
version=$(awk -F'"' '/^version = "/ { print $2; exit }' "$ROOT/pyproject.toml")
[[ -n $version ]] || die "no version in $ROOT/pyproject.toml"
if [[ -z "${IMAGE:-}" ]]; then
  IMAGE="runai-failure-analysis:$version"
  note "IMAGE not set: using $IMAGE (what \`make image\` builds; push it and set IMAGE=REGISTRY/runai-failure-analysis:$version)"
fi
export IMAGE NVIDIA_API_KEY="${NVIDIA_API_KEY:-}"
[[ -n $NVIDIA_API_KEY ]] || note "NVIDIA_API_KEY not set: the agent answers deterministically, without an LLM"
# The agent serves evidence quoted from pod logs and refuses to listen beyond loopback without a
# token: generate one rather than deploy an agent that cannot start.
if [[ -z "${AGENT_API_TOKEN:-}" ]]; then
  AGENT_API_TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  note "AGENT_API_TOKEN not set: generated one; read it with kubectl -n runai-$RUNAI_PROJECT get secret runai-failure-analysis-credentials -o jsonpath='{.data.AGENT_API_TOKEN}' | base64 -d"
fi
export AGENT_API_TOKEN

command -v envsubst >/dev/null || die "envsubst not found: install gettext (Debian/Ubuntu: apt-get install gettext-base)"
command -v "$KUBECTL" >/dev/null || die "kubectl not found (set KUBECTL=/path/to/kubectl)"

# ---- quantities: Kubernetes' suffixes, compared as plain numbers ----
quantity() {  # quantity 2Gi -> 2147483648; empty output for a malformed one
  awk -v q="$1" 'BEGIN {
    n = q; sub(/[A-Za-z]+$/, "", n); s = substr(q, length(n) + 1)
    if (n !~ /^[0-9]+(\.[0-9]+)?$/) exit
    f["Ki"] = 2^10; f["Mi"] = 2^20; f["Gi"] = 2^30; f["Ti"] = 2^40; f["Pi"] = 2^50
    f["k"] = 1e3; f["M"] = 1e6; f["G"] = 1e9; f["T"] = 1e12; f["P"] = 1e15; f["m"] = 1e-3; f[""] = 1
    if (!(s in f)) exit
    printf "%.6f\n", n * f[s]
  }'
}

# The resources of one container of the Deployment in kustomize's normalised output (keys sorted,
# two-space indents, a container's keys at 8 spaces): prints lines like "requests memory 256Mi".
container_resources() {
  awk -v want="$1" '
    function flush() { if (name == want) for (k in r) print k, r[k]; split("", r); name = ""; inres = 0 }
    /^kind: / { flush(); dep = ($2 == "Deployment"); next }
    !dep { next }
    { match($0, /^ */); ind = RLENGTH }
    /^      - / { flush(); sub(/^      - /, "        "); ind = 8 }
    ind < 8 { flush(); next }
    ind == 8 && /^        name: / { name = $2 }
    ind == 8 { inres = ($1 == "resources:"); next }
    inres && ind == 10 { blk = $1; sub(/:$/, "", blk); next }
    inres && ind == 12 { k = $1; sub(/:$/, "", k); v = $2; gsub(/["\047]/, "", v); r[blk " " k] = v }
    END { flush() }
  '
}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
chmod 700 "$workdir"

# ---- render: the two files of the guide, only their own variables substituted ----
vars='${RUNAI_PROJECT} ${RUNAI_JOB_NAME} ${IMAGE} ${RUNAI_BASE_URL} ${RUNAI_CLIENT_ID} ${RUNAI_CLIENT_SECRET} ${RUNAI_APP_ID} ${RUNAI_APP_SECRET} ${NVIDIA_API_KEY} ${AGENT_API_TOKEN}'
envsubst "$vars" < "$HERE/failure-analysis-pvc.yaml" > "$workdir/pvc.yaml"
envsubst "$vars" < "$HERE/runai-agent-with-sidecar.yaml" > "$workdir/workload.yaml"
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources: [pvc.yaml, workload.yaml]"
} > "$workdir/kustomization.yaml"

if [[ -n $resources_file ]]; then
  [[ -r $resources_file ]] || die "cannot read --resources $resources_file"
  grep -q "^        - name: $container\b" "$workdir/workload.yaml" \
    || die "--container $container: the workload has no such container (nat-agent, monitor-sidecar)"
  {
    echo "apiVersion: apps/v1"
    echo "kind: Deployment"
    echo "metadata: {name: $RUNAI_JOB_NAME, namespace: runai-$RUNAI_PROJECT}"
    echo "spec:"
    echo "  template:"
    echo "    spec:"
    echo "      containers:"
    echo "        - name: $container"
    if grep -q '^resources:' "$resources_file"; then
      sed 's/^/          /' "$resources_file"
    else
      echo "          resources:"
      sed 's/^/            /' "$resources_file"
    fi
  } > "$workdir/resources-patch.yaml"
  echo "patches: [{path: resources-patch.yaml}]" >> "$workdir/kustomization.yaml"
fi

"$KUBECTL" kustomize "$workdir" > "$workdir/rendered.yaml" 2> "$workdir/kustomize.err" \
  || die "the manifests do not render: $(head -n 1 "$workdir/kustomize.err")"

# ---- resources: each request within its limit, or a clear refusal before anything is applied ----
declare -A res=()
while read -r block key value; do res["$block $key"]=$value; done \
  < <(container_resources "$container" < "$workdir/rendered.yaml")
for key in cpu memory; do
  request=${res["requests $key"]:-}
  limit=${res["limits $key"]:-}
  for q in "$request" "$limit"; do
    [[ -z $q || -n $(quantity "$q") ]] || die "$container: $key quantity '$q' is not a Kubernetes quantity (e.g. 500m, 2, 256Mi, 2Gi)"
  done
  if [[ -n $request && -n $limit ]] \
     && awk -v r="$(quantity "$request")" -v l="$(quantity "$limit")" 'BEGIN { exit !(r > l) }'; then
    die "$container: $key request $request is above its limit $limit, which Kubernetes rejects; raise limits.$key to at least $request${resources_file:+ in $resources_file} (sizing: docs/sizing.md)"
  fi
done
note "resources of $container: requests cpu=${res["requests cpu"]:-none} memory=${res["requests memory"]:-none}, limits cpu=${res["limits cpu"]:-none} memory=${res["limits memory"]:-none}: accepted"

if ((dry_run)); then
  # Secret values never reach a terminal or a CI log.
  awk '
    /^kind: / { secret = ($2 == "Secret") }
    /^---/ { secret = 0; in_data = 0 }
    secret && /^(stringData|data):/ { in_data = 1; print; next }
    secret && in_data && /^  [A-Za-z0-9_.-]+:/ { key = $1; print "  " key " \"******\""; next }
    secret && in_data && /^    / { next }
    { in_data = in_data && /^  /; print }
  ' "$workdir/rendered.yaml"
  note "dry run: nothing applied (the Secret's values are masked above)"
  exit 0
fi

# Server-side: a client-side apply would copy the Secret's values into its last-applied
# annotation, which `kubectl describe secret` prints in clear.
"$KUBECTL" apply --server-side --field-manager=runai-failure-analysis --force-conflicts \
  -f "$workdir/rendered.yaml"
note "applied: kubectl -n runai-$RUNAI_PROJECT rollout status deploy/$RUNAI_JOB_NAME"
