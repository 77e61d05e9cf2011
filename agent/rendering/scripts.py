"""The shell steps of the rendered workflow: fixed text that reads every value from its environment, never from the plan.

GitHub runs each `run:` with `bash -e -o pipefail`; actionlint checks these with shellcheck.
"""

from __future__ import annotations

import re
import shlex

IMAGE_NAME = 'echo "name=ghcr.io/${GITHUB_REPOSITORY,,}" >> "$GITHUB_OUTPUT"\n'
"""GHCR wants lowercase repository names; `github.repository` keeps the owner's capitals."""

CONFIGURE = """\
if [ -z "$KUBECONFIG_DATA" ]; then
  echo "::error::this environment has no KUBECONFIG secret"
  exit 1
fi
umask 077
printf '%s\\n' "$KUBECONFIG_DATA" > "$KUBECONFIG"
"""

FORGET = 'rm -f "$KUBECONFIG"\n'

_DEPLOYMENT_REVISION = "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"


def record(rollout: bool) -> str:
    """Remember what runs now, so a failed deploy returns to exactly that (and a first deploy is never 'rolled back')."""
    if rollout:
        return (
            "stable=\"$(kubectl -n \"$NAMESPACE\" get rollout \"$APP\" --ignore-not-found -o jsonpath='{.status.stableRS}')\"\n"
            'echo "stable=$stable" >> "$GITHUB_OUTPUT"\n'
        )
    return (
        f"revision=\"$(kubectl -n \"$NAMESPACE\" get deployment \"$APP\" --ignore-not-found -o jsonpath='{_DEPLOYMENT_REVISION}')\"\n"
        'echo "revision=$revision" >> "$GITHUB_OUTPUT"\n'
    )


_APPLY = """\
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
(cd "$MANIFESTS" && kustomize edit set image "$IMAGE_NAME=$IMAGE")
kubectl apply -k "$MANIFESTS"
"""

_WAIT_DEPLOYMENT = 'kubectl -n "$NAMESPACE" rollout status "deployment/$APP" --timeout="${WAIT_SECONDS}s"\n'

_WAIT_ROLLOUT = """\
# Argo Rollouts reports Healthy when every step passed, Degraded when it aborted (failed analysis), Paused while it waits.
until_phase="{until}"
generation="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{{.metadata.generation}}')"
deadline=$((SECONDS + WAIT_SECONDS))
while true; do
  observed="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{{.status.observedGeneration}}')"
  phase="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{{.status.phase}}')"
  if [ "$observed" = "$generation" ]; then
    if [ "$phase" = "Healthy" ] || [ "$phase" = "$until_phase" ]; then
      echo "rollout $APP: $phase"
      break
    fi
    if [ "$phase" = "Degraded" ]; then
      kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{{.status.message}}'
      echo
      echo "::error::rollout $APP is degraded (aborted or failed analysis): Argo Rollouts keeps the stable version"
      exit 1
    fi
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "::error::rollout $APP did not finish within $WAIT_SECONDS s (phase: $phase)"
    exit 1
  fi
  sleep 15
done
"""


def deploy(rollout: bool, until: str = "Healthy") -> str:
    """Set the image to the digest just built, apply the environment's manifests, wait for the engine to finish."""
    if until not in {"Healthy", "Paused"}:
        raise ValueError(until)
    return _APPLY + (_WAIT_ROLLOUT.format(until=until) if rollout else _WAIT_DEPLOYMENT)


PREVIEW_SMOKE = """\
# The preview is inside the cluster: reach one pod of the new version through a port-forward.
hash="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{.status.currentPodHash}')"
pod="$(kubectl -n "$NAMESPACE" get pods -l "rollouts-pod-template-hash=$hash" -o name | head -n 1)"
if [ -z "$pod" ]; then
  echo "::error::no pod of the new version ($hash)"
  exit 1
fi
kubectl -n "$NAMESPACE" port-forward "$pod" "18080:$PORT" > /dev/null &
forward=$!
trap 'kill "$forward"' EXIT
for _ in $(seq 1 30); do
  if curl --fail --silent --output /dev/null "http://127.0.0.1:18080$READY_PATH"; then break; fi
  sleep 1
done
curl --fail --silent --show-error --output /dev/null "http://127.0.0.1:18080$READY_PATH"
curl --fail --silent --show-error --output /dev/null "http://127.0.0.1:18080$LIVE_PATH"
"""

PROMOTE = (
    "# What `kubectl argo rollouts promote` does, without the plugin: clear the pause, then wait for the switch.\n"
    'kubectl -n "$NAMESPACE" patch rollout "$APP" --type merge --subresource status -p \'{"status":{"pauseConditions":null}}\'\n'
    + _WAIT_ROLLOUT.format(until="Healthy")
)

_NEED_URL = """\
if [ -z "$BASE_URL" ]; then
  echo "::error::set the $URL_VARIABLE variable (the service's base URL) for this environment"
  exit 1
fi
"""

SMOKE = (
    _NEED_URL
    + 'curl --fail --silent --show-error --retry 5 --retry-all-errors --max-time 10 --output /dev/null "$BASE_URL$READY_PATH"\n'
    + 'curl --fail --silent --show-error --retry 5 --retry-all-errors --max-time 10 --output /dev/null "$BASE_URL$LIVE_PATH"\n'
)

LATENCY = _NEED_URL + (
    "for _ in $(seq 1 50); do\n"
    "  curl --fail --silent --show-error --max-time 10 --output /dev/null --write-out '%{time_total}\\n' \"$BASE_URL$READY_PATH\"\n"
    "done | sort -n | awk -v budget=\"$LATENCY_BUDGET\" '{ t[NR] = $1 } END { p = t[int(NR * 0.95)];"
    ' printf "p95 %.3f s (budget %s s)\\n", p, budget; if (p > budget + 0) exit 1 }\'\n'
)

SOAK = _NEED_URL + """\
end=$((SECONDS + SOAK_SECONDS))
failures=0
while [ "$SECONDS" -lt "$end" ]; do
  if curl --fail --silent --output /dev/null --max-time 10 "$BASE_URL$READY_PATH"; then
    failures=0
  else
    failures=$((failures + 1))
    echo "::warning::health check failed ($failures in a row)"
  fi
  if [ "$failures" -ge 3 ]; then
    echo "::error::the soak failed: 3 health checks in a row"
    exit 1
  fi
  sleep 60
done
echo "soaked for $SOAK_SECONDS s"
"""

UNDO = f"""\
now="$(kubectl -n "$NAMESPACE" get deployment "$APP" -o jsonpath='{_DEPLOYMENT_REVISION}')"
if [ "$now" = "$REVISION" ]; then
  echo "revision $REVISION is still the running one: nothing to roll back"
  exit 0
fi
kubectl -n "$NAMESPACE" rollout undo "deployment/$APP" --to-revision="$REVISION"
kubectl -n "$NAMESPACE" rollout status "deployment/$APP" --timeout=120s
"""

ROLLBACK_WAIT_SECONDS = 600
"""Inside spec.rollbackWindow an undo skips the steps and analysis: the previous pods start, and that is all."""

_PROMOTE_FULL = '{"status":{"promoteFull":true}}'

ROLL_BACK = (
    """\
current="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{.status.currentPodHash}')"
if [ "$current" = "$STABLE" ]; then
  echo "the recorded version $STABLE is the current one: nothing to roll back"
  exit 0
fi
phase="$(kubectl -n "$NAMESPACE" get rollout "$APP" -o jsonpath='{.status.phase}')"
if [ "$phase" != "Healthy" ]; then
  # Still rolling out (canary steps, a paused preview) or degraded: what `kubectl argo rollouts abort` does, without the plugin.
  kubectl -n "$NAMESPACE" patch rollout "$APP" --type merge --subresource status -p '{"status":{"abort":true}}'
  exit 0
fi
# Fully rolled out, then a test failed: abort would change nothing. Put the recorded version's pod template back (what
# `kubectl argo rollouts undo` does); inside spec.rollbackWindow Argo Rollouts skips the steps and analysis for it.
template="$(kubectl -n "$NAMESPACE" get replicasets -l "app.kubernetes.io/name=$APP,rollouts-pod-template-hash=$STABLE" -o json \\
  | jq -c '.items[0].spec.template // empty | del(.metadata.labels["rollouts-pod-template-hash"])')"
if [ -z "$template" ]; then
  echo "::error::the recorded version $STABLE has no ReplicaSet left to roll back to"
  exit 1
fi
patch="$(jq -cn --argjson template "$template" '[{op: "replace", path: "/spec/template", value: $template}]')"
kubectl -n "$NAMESPACE" patch rollout "$APP" --type json -p "$patch"
"""
    + _WAIT_ROLLOUT.format(until="Paused")
    + f"""\
if [ "$phase" = "Paused" ]; then
  # A blue/green rollback waits at its preview like any release: promote it at once (`kubectl argo rollouts promote --full`).
  kubectl -n "$NAMESPACE" patch rollout "$APP" --type merge --subresource status -p '{_PROMOTE_FULL}'
fi
"""
    + _WAIT_ROLLOUT.format(until="Healthy")
)
"""Back to the version recorded before the deploy: abort a rollout still in progress, undo one that finished."""

_TEST_NAME = re.compile(r"[a-z0-9][a-z0-9 _-]{0,39}")


def unmapped(tests: list[str]) -> str:
    """A visible warning naming the plan's tests this workflow has no command for (names that are not plain words are counted)."""
    plain = [t for t in tests if _TEST_NAME.fullmatch(t)]
    others = len(tests) - len(plain)
    names = ", ".join(plain) + (f" and {others} more" if others else "") if plain else f"{others} tests"
    return f"echo {shlex.quote(f'::warning::the plan asks for {names}: add them to this job')}\n"
