#!/usr/bin/env bash
# The releasegate story end to end on support-triage, on this machine's CPU (`make demo`).
#
#   1. onboard the incumbent (SmolLM2 135M, prompt v1) as the first champion, signed by both owners
#   2. evaluate Gemma 3 270M (candidate) against it: verdict, report, unsigned decision
#   3. `promote` without signatures is blocked
#   4. sign with the product and platform owners' demo keys; promote (or, when the gate failed,
#      show the refusal and evaluate a second candidate: SmolLM2 with prompt v3)
#   5. roll back to the previous champion, audit the aliases, governance report
# Serving (issue 17): from step 4 the champion's verified vLLM replica answers product calls
# (releasegate.client) through its scenario endpoint on MLflow's AI Gateway (`gateway up`, port
# DEMO_GATEWAY_PORT, default 5055); the endpoint follows the promotion and the rollback. DEMO_SERVE=0
# skips it; a serving step that fails says so and the rest of the story runs as before.
# Trust (issue 14): before anything is evaluated, a portfolio root (2 of 3 platform root keys,
# pinned in RELEASEGATE_TRUST_ROOT) signs the scenario's root v1 (owners' keys, the gate criteria,
# the platform's release policy). Releases are signed by the product owner and, for a prompt-only
# change that passed, by the release policy's CI key; a repository edit of the keyring is refused
# and the product owner's key is rotated with the old owners' signatures.
#
# DEMO_LIMIT (default 120) cases keep it to a few minutes on 2 cores; DEMO_LIMIT=0 runs all cases.
# State goes to .releasegate/demo (ledger, MLflow store, decisions, reports); the generation cache
# and prepared models are kept between runs, so a second `make demo` regenerates nothing.
set -uo pipefail
cd "$(dirname "$0")/.."

RG=${RG:-.venv/bin/releasegate}
LIMIT=${DEMO_LIMIT:-120}
SCENARIO=support-triage
export RELEASEGATE_HOME=${RELEASEGATE_HOME:-$PWD/.releasegate/demo}
export RELEASEGATE_MODELS_DIR=${RELEASEGATE_MODELS_DIR:-$PWD/.releasegate/models}
# Demo keys live outside the repository; the demo keyring beside the demo state (a real team
# commits keyring.yaml with its owners' public keys).
export RELEASEGATE_KEYS_DIR=${RELEASEGATE_KEYS_DIR:-$HOME/.config/releasegate/demo-keys}
export RELEASEGATE_KEYRING=${RELEASEGATE_KEYRING:-$RELEASEGATE_HOME/keyring.yaml}
PRODUCT=product-owner@support.example
PLATFORM=platform-owner@platform.example
limit_args=()
[ "$LIMIT" != "0" ] && limit_args=(--limit "$LIMIT")

say() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
fail() { printf '\033[1;31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }
decision_of() { ls -t "$RELEASEGATE_HOME"/decisions/$SCENARIO/*.dsse.json | head -1; }

# Serving (issue 17): the champion behind its scenario endpoint on MLflow's AI Gateway; a product
# call with releasegate.client; traffic follows the promotion and the rollback.
GW_URL=http://127.0.0.1:${DEMO_GATEWAY_PORT:-5055}
bg_pids=()
stop_background() {  # SIGTERM: `serve` records the replica's end and stops vLLM; `gateway up` stops MLflow
  [ ${#bg_pids[@]} -gt 0 ] || return 0
  kill -TERM "${bg_pids[@]}" 2>/dev/null
  wait "${bg_pids[@]}" 2>/dev/null
  bg_pids=()
}
trap stop_background EXIT
champion_version() {
  .venv/bin/python -c "from releasegate.releases import Ledger, expected_aliases
print(expected_aliases(Ledger.open(), '$SCENARIO').get('champion'))"
}
background() {  # $1 log name, $2 line that says it is up, rest: the command (foreground server)
  local log=$RELEASEGATE_HOME/$1.log ready=$2
  shift 2
  "$@" >"$log" 2>&1 &
  bg_pids+=($!)
  for _ in $(seq 1 900); do
    # rich wraps long lines: the log is read as one line
    tr -s ' \n' ' ' <"$log" | grep -q "$ready" && { tr -s ' \n' ' ' <"$log" | tail -c 400; echo; return 0; }
    kill -0 $! 2>/dev/null || { cat "$log"; return 1; }
    sleep 1
  done
  return 1
}
SERVING=${DEMO_SERVE:-1}  # DEMO_SERVE=0 skips the serving steps; a serving step that fails skips the rest
serving_off() { printf '\033[1;33mserving skipped from here: %s\033[0m\n' "$*" >&2; SERVING=0; stop_background; }
ask_gateway() {  # $1: when; a product's call: scenario id and prompt variables, no model, no key
  .venv/bin/python - "$1" "$GW_URL" <<'PY'
import sys, time
from releasegate.client import call_scenario
t = time.monotonic()
a = call_scenario("support-triage", {"message": "I was charged twice this month", "channel": "email"},
                  gateway_url=sys.argv[2], max_tokens=8)
print(f"{sys.argv[1]}: answered by {a.model} with prompt {a.prompt_version} in {time.monotonic() - t:.2f} s: {a.text!r}")
PY
}

start=$(date +%s)
# A fresh story each run; the generation cache (.releasegate/demo/cache) is kept.
rm -rf "$RELEASEGATE_HOME"/{ledger.db,mlflow.db,mlartifacts,decisions,runs,keyring.yaml,prefect,trust,checkpoints} "$RELEASEGATE_KEYS_DIR"
unset RELEASEGATE_TRUST_ROOT  # pinned below, once this run's portfolio root exists
mkdir -p "$RELEASEGATE_HOME"

say "Scenario contracts validate"
$RG scenarios validate || fail "contracts do not validate"
$RG scenarios show $SCENARIO --raci | head -40

say "Demo keys for the fictional owners (private keys in $RELEASEGATE_KEYS_DIR, mode 0600)"
$RG keys generate --identity $PRODUCT || fail "keygen"
$RG keys generate --identity $PLATFORM || fail "keygen"
PRODUCT_KEY=$RELEASEGATE_KEYS_DIR/$PRODUCT.pem
PLATFORM_KEY=$RELEASEGATE_KEYS_DIR/$PLATFORM.pem
# The ledger's own key signs a checkpoint after every alias move (kept in $RELEASEGATE_HOME/checkpoints);
# privileged events (promote, rollback, incidents, exceptions) are signed by the acting identity's key.
$RG keys generate --identity releasegate-ledger || fail "keygen"
export RELEASEGATE_ACTOR_KEY=$PLATFORM_KEY

ROOTS=(root-1@platform.example root-2@platform.example root-3@platform.example)
BOT=release-bot@platform.example
# The runner that generates (issue 15): it signs the records it produces, the release policy
# names it, so the decisions' evidence is attested (a policy approval requires that).
RUNNER=runner@platform.example
export RELEASEGATE_RUNNER=$RUNNER
key_of() { echo "$RELEASEGATE_KEYS_DIR/$1.pem"; }
for id in "${ROOTS[@]}" $BOT $RUNNER ledger@platform.example; do
  $RG keys generate --identity "$id" >/dev/null || fail "keygen $id"
done

say "Trust: the portfolio root (2 of 3 platform root keys), pinned outside the repository"
init_out=$($RG trust init --root "${ROOTS[0]}" --root "${ROOTS[1]}" --root "${ROOTS[2]}" --threshold 2 \
  --ledger-identity ledger@platform.example --key "$(key_of "${ROOTS[0]}")" --key "$(key_of "${ROOTS[1]}")") \
  || fail "trust init"
echo "$init_out"
RELEASEGATE_TRUST_ROOT=$(echo "$init_out" | grep -o 'RELEASEGATE_TRUST_ROOT=sha256:[0-9a-f]*' | cut -d= -f2)
export RELEASEGATE_TRUST_ROOT  # in CI: a protected variable, not something the repository sets

say "Trust: scenario root v1 (owners and keys, pre-registered criteria, the platform's release policy)"
mkdir -p "$RELEASEGATE_HOME/trust"
cat > "$RELEASEGATE_HOME/trust/release-policy.yaml" <<POLICY
identity: $BOT
expires: $(date -u -d '+90 days' +%F)
change_kinds: [prompt_only]
require_checks: [cost_ratio, latency_p95]
no_open_incidents: [sev1, sev2]
runners: [$RUNNER]
POLICY
root_v1=$RELEASEGATE_HOME/trust/$SCENARIO-v1.json
$RG trust propose --scenario $SCENARIO --policy "$RELEASEGATE_HOME/trust/release-policy.yaml" --out "$root_v1" \
  || fail "trust propose"
for id in "${ROOTS[0]}" "${ROOTS[2]}" $PRODUCT $PLATFORM; do
  $RG trust sign "$root_v1" --key "$(key_of "$id")" || fail "trust sign"
done
$RG trust apply "$root_v1" || fail "trust apply"

sign_and_promote() {  # $1 decision file: the product owner signs; the platform by policy when it holds
  $RG approve "$1" --role product --key "$PRODUCT_KEY" || return 1
  if ! $RG approve "$1" --role platform --by-policy --key "$(key_of $BOT)"; then
    echo "(outside the release policy: a person on the platform team signs)"
    $RG approve "$1" --role platform --key "$PLATFORM_KEY" || return 1
  fi
  $RG verify "$1"
  $RG promote --scenario $SCENARIO --decision "$1"
}

say "1. Onboard the incumbent (smollm2-v1) as the first champion: a baseline evaluation, signed"
$RG evaluate --scenario $SCENARIO --candidate smollm2-v1 "${limit_args[@]}"
baseline=$(decision_of)
sign_and_promote "$baseline" || fail "the baseline could not be promoted"

say "2. Evaluate the candidate: Gemma 3 270M (gemma3-v1) against SmolLM2 135M (smollm2-v1)"
$RG evaluate --scenario $SCENARIO --candidate gemma3-v1 "${limit_args[@]}"
code=$?
[ $code = 2 ] && fail "bad input"
gemma=$(decision_of)
echo "report: ${gemma%.dsse.json}.report.html (also in MLflow); decision: $gemma"

say "3. Promotion without signatures is blocked (what CI runs)"
$RG promote --scenario $SCENARIO --decision "$gemma" && fail "promotion without signatures succeeded"
echo "(blocked, exit code $?: as expected)"

if [ "$SERVING" = 1 ]; then
  say "Serving: the champion's verified replica behind its scenario endpoint (MLflow AI Gateway)"
  { background gateway "Ctrl-C to stop" $RG gateway up --port "${GW_URL##*:}" --cache-ttl 10 \
    && background serve-champion "Ctrl-C to stop" $RG serve --scenario $SCENARIO --alias champion \
    && $RG gateway switch --scenario $SCENARIO | tail -1 \
    && sleep 11 \
    && ask_gateway "before the promotion"; } || serving_off "see $RELEASEGATE_HOME/gateway.log, serve-champion.log"
fi  # sleep 11: MLflow caches an endpoint's config for --cache-ttl seconds
served_version=$(champion_version)

if [ $code = 0 ]; then
  say "4. The gate passed: both owners sign, then promote"
  sign_and_promote "$gemma" || fail "promotion failed"
else
  say "4. The gate did not pass (exit $code): signing is refused"
  $RG approve "$gemma" --role product --key "$PRODUCT_KEY" && fail "signed a non-PASS decision"
  say "   Second candidate: the same SmolLM2 weights with prompt v3 (smollm2-v3: two more examples)"
  $RG evaluate --scenario $SCENARIO --candidate smollm2-v3 "${limit_args[@]}"
  code2=$?
  second=$(decision_of)
  if [ $code2 = 0 ]; then
    sign_and_promote "$second" || fail "promotion failed"
    rollback_target=prompt  # a prompt-only release: an incident rolls back the prompt
  else
    echo "smollm2-v3 did not pass either (exit $code2): the champion stays smollm2-v1"
  fi
fi

if [ "$SERVING" = 1 ] && [ "$(champion_version)" != "$served_version" ]; then
  say "Serving: the new champion's replica; the endpoint follows the promotion (the old one stays as fallback)"
  { background serve-new "Ctrl-C to stop" $RG serve --scenario $SCENARIO --alias champion \
    && sleep 11 && ask_gateway "after the promotion"; } || serving_off "see $RELEASEGATE_HOME/serve-new.log"
fi

say "Trust: a repository edit of the keyring cannot change who signs"
cp "$PRODUCT_KEY" "$RELEASEGATE_HOME/trust/product-old.pem"  # the owner keeps the old key for the rotation
$RG keys generate --identity $PRODUCT --force >/dev/null || fail "keygen"  # keyring.yaml: a new product key
$RG approve "$(decision_of)" --role product --key "$PRODUCT_KEY" && fail "a key outside the signed root signed"
echo "(refused, exit code $?: the signed root names another key)"
$RG trust show --scenario $SCENARIO

say "Trust: rotate the product owner's key (signed by the old product and platform keys, and the new key)"
root_v2=$RELEASEGATE_HOME/trust/$SCENARIO-v2.json
$RG trust propose --scenario $SCENARIO --out "$root_v2" || fail "trust propose"
for k in "$RELEASEGATE_HOME/trust/product-old.pem" "$PRODUCT_KEY" "$PLATFORM_KEY"; do
  $RG trust sign "$root_v2" --key "$k" || fail "trust sign"
done
$RG trust apply "$root_v2" || fail "trust apply"
$RG trust show --scenario $SCENARIO

say "5. Incident: support reports misrouted tickets; the incident owner rolls back what the release changed (${rollback_target:-model})"
inc_line=$($RG incident open --scenario $SCENARIO --severity sev2 \
  --summary "demo: misrouted tickets reported by support after the release") || fail "incident open"
echo "$inc_line"
inc=$(echo "$inc_line" | grep -o 'INC-[0-9]*' | head -1)
if $RG rollback --scenario $SCENARIO --target "${rollback_target:-model}" --incident "$inc" \
     --reason "demo: misrouted tickets (incident $inc)"; then
  $RG incident close "$inc" --resolution "rolled back the ${rollback_target:-model} to its last released version" || fail "incident close"
  if [ "$SERVING" = 1 ]; then  # a model rollback moved the endpoint (ledger first; MLflow's cache TTL);
    # a prompt rollback moved the prompt alias, which the client reads on its next call
    sleep 11 && ask_gateway "after the rollback" || serving_off "the endpoint did not answer"
  fi
else
  echo "(nothing to roll back to: only one version was ever promoted)"
  $RG incident close "$inc" --resolution "no rollback target; investigated" || fail "incident close"
fi

say "6. Operating model: an exception on the record, audit, ledger, governance"
$RG exceptions open --scenario $SCENARIO --owner platform-owner@platform.example --kind skipped_check \
  --reason "demo: the prefix-cache SLO cannot be measured on the CPU build" \
  --expires "$(date -u -d '+30 days' +%F)" || fail "exception open"
$RG exceptions list --scenario $SCENARIO
# The whole portfolio: invoice-extraction was never onboarded, and with the portfolio root pinned
# every scenario needs a signed root, so audit names it (exit 1); the released scenario must be clean.
$RG audit && fail "audit did not report the scenario without a signed root"
$RG audit --scenario $SCENARIO || fail "audit found drift"
$RG ledger verify || fail "ledger does not verify"
$RG governance --html "$RELEASEGATE_HOME/governance.html" || fail "governance"
[ "$SERVING" = 1 ] && { $RG gateway usage --scenario $SCENARIO --mlflow-uri "$GW_URL" || serving_off "gateway usage"; }
stop_background

end=$(date +%s)
say "Done in $((end - start)) s"
echo "Open the latest report:   xdg-open $(ls -t "$RELEASEGATE_HOME"/runs/$SCENARIO/*/report.html | head -1)"
echo "Browse runs and aliases:  .venv/bin/mlflow ui --backend-store-uri sqlite:///$RELEASEGATE_HOME/mlflow.db"
echo "Governance report:        $RELEASEGATE_HOME/governance.html"
