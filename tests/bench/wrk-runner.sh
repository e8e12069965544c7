#!/bin/sh
# wrk-runner.sh: GET /sandboxes/{id} throughput of the standalone mock-runner against a
# minimal libsoup server answering the same JSON body, measured in the same run so the
# ratio holds on a shared machine; then the time the runner spends on POST /sandboxes,
# from its request journal (docs/performance.md). Needs wrk (`apt-get install wrk`).
#
# Usage: wrk-runner.sh MOCK_RUNNER MINIMAL_SERVER
# Environment: WRK_DURATION (default 3s), WRK_CONNECTIONS (32), WRK_ROUNDS (10 rounds of
# both servers, the order alternating, so a change of load hits both; the medians are
# the figures), CREATE_DURATION (3s of
# creates, one connection), LOG_LEVEL (runner's, default warn as the runner's own default).
set -eu

runner_bin=${1:?usage: wrk-runner.sh MOCK_RUNNER MINIMAL_SERVER}
minimal_bin=$(realpath "${2:?usage: wrk-runner.sh MOCK_RUNNER MINIMAL_SERVER}")
runner_bin=$(realpath "$runner_bin")
duration=${WRK_DURATION:-3s}
connections=${WRK_CONNECTIONS:-32}
rounds=${WRK_ROUNDS:-10}
create_duration=${CREATE_DURATION:-3s}
script_dir=$(dirname "$(realpath "$0")")
log_level=${LOG_LEVEL:-warn}
token=bench-token
sandbox=bench-sandbox

command -v wrk >/dev/null || { echo "wrk-runner: wrk not found (apt-get install wrk)" >&2; exit 77; }
command -v curl >/dev/null || { echo "wrk-runner: curl not found" >&2; exit 77; }

work=$(mktemp -d)
pids=
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Starts "$@" in $work with stdout in $work/$name.out, waits for its "listening on URL"
# line and sets $url. (Not in a command substitution: its pid must reach the cleanup.)
start_server() {
  name=$1; shift
  (cd "$work" && exec "$@" >"$work/$name.out" 2>"$work/$name.err") &
  pid=$!
  pids="$pids $pid"
  for _ in $(seq 100); do
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/$name.out")
    if [ -n "$url" ]; then url=${url%/}; return 0; fi
    sleep 0.1
  done
  echo "wrk-runner: $name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

start_server minimal "$minimal_bin"
minimal_url=$url
minimal_pid=$pid
start_server runner env API_TOKEN=$token SERVER_URL=http://localhost:3000 \
  API_PORT=0 API_HOST=127.0.0.1 LOG_LEVEL="$log_level" "$runner_bin"
runner_url=$url
runner_pid=$pid
ticks=$(getconf CLK_TCK)

status=$(curl -s -o "$work/create.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  -d "{\"id\":\"$sandbox\",\"userId\":\"u\",\"snapshot\":\"ubuntu:22.04\",\"osUser\":\"daytona\",\"cpuQuota\":1,\"memoryQuota\":1,\"storageQuota\":3}" \
  "$runner_url/sandboxes")
[ "$status" = 201 ] || { echo "wrk-runner: create sandbox -> $status: $(cat "$work/create.json")" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$runner_url/sandboxes/$sandbox")
[ "$status" = 200 ] || { echo "wrk-runner: GET sandbox -> $status" >&2; exit 1; }

# CPU time of process $1 so far (user + system, in clock ticks).
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# One wrk run against URL $1 served by process $2: prints its requests per second and
# the server's CPU time per request in microseconds (less sensitive to what else runs
# on the machine than the rate). Fails on any non-2xx reply or socket error.
rate() {
  before=$(cpu_ticks "$2")
  wrk -t1 -c"$connections" -d"$duration" -H "Authorization: Bearer $token" "$1" >"$work/wrk.out"
  after=$(cpu_ticks "$2")
  if grep -q 'Non-2xx\|Socket errors' "$work/wrk.out"; then
    echo "wrk-runner: errors against $1:" >&2
    cat "$work/wrk.out" >&2
    exit 1
  fi
  awk -v b="$before" -v a="$after" -v t="$ticks" '
    /requests in/ { n = $1 }
    /^Requests\/sec:/ { r = $2 }
    END { printf "%s %.1f\n", r, (a - b) * 1e6 / t / n }' "$work/wrk.out"
}

echo "wrk -t1 -c$connections -d$duration, runner LOG_LEVEL=$log_level, $(nproc) CPUs"
: >"$work/rounds"
for round in $(seq "$rounds"); do
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  # which server goes first alternates, so that a trend in the machine's speed over the
  # run does not always favour the same one
  if [ $((round % 2)) = 1 ]; then
    minimal=$(rate "$minimal_url/sandboxes/$sandbox" "$minimal_pid")
    runner=$(rate "$runner_url/sandboxes/$sandbox" "$runner_pid")
  else
    runner=$(rate "$runner_url/sandboxes/$sandbox" "$runner_pid")
    minimal=$(rate "$minimal_url/sandboxes/$sandbox" "$minimal_pid")
  fi
  echo "$minimal $runner" >>"$work/rounds"
  echo "$minimal $runner" | awk -v r="$round" -v l="$load_before" '{
    printf "round %d: minimal %.0f req/s, runner GET /sandboxes/{id} %.0f req/s, ratio %.2f; " \
           "CPU per request %.1f us and %.1f us, ratio %.2f (load %s)\n",
      r, $1, $3, $3 / $1, $2, $4, $2 / $4, l }'
done
# On a shared machine one round's ratio swings by a fifth either way: the median of the
# rounds is the figure
awk '{ print $3 / $1, $2 / $4 }' "$work/rounds" >"$work/ratios"
# median of column $1 of $work/ratios
median() {
  cut -d' ' -f"$1" "$work/ratios" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "median over $rounds rounds: throughput ratio $(median 1), CPU ratio $(median 2) (aim: throughput ratio at least 0.80)"

# Creates, one at a time on a kept-alive connection, each with a new id; the journal
# records how long the runner took over each, from its first byte read to its reply
# decided (durationUs), i.e. without the network and the client.
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$runner_url/_mock/requests"
load=$(cut -d' ' -f1-3 /proc/loadavg)
wrk -t1 -c1 -d"$create_duration" --latency -s "$script_dir/wrk-create.lua" -H "Authorization: Bearer $token" \
  "$runner_url" >"$work/create.out"
if grep -q 'Non-2xx\|Socket errors' "$work/create.out"; then
  echo "wrk-runner: errors in the creates:" >&2
  cat "$work/create.out" >&2
  exit 1
fi
curl -s -H "Authorization: Bearer $token" "$runner_url/_mock/requests?method=POST&path=/sandboxes" \
  | grep -o '"durationUs":[0-9]*' | cut -d: -f2 | sort -n >"$work/durations"
awk -v l="$load" -v rate="$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/create.out")" \
    -v client50="$(sed -n 's/^ *50% *\([^ ]*\).*/\1/p' "$work/create.out")" \
    -v client99="$(sed -n 's/^ *99% *\([^ ]*\).*/\1/p' "$work/create.out")" '
  { d[NR] = $1 }
  END {
    if (NR == 0) { print "wrk-runner: no create in the journal" > "/dev/stderr"; exit 1 }
    printf "create: %d in the journal (%.0f/s), inside the server p50 %d us, p99 %d us; round trip p50 %s, p99 %s (load %s)\n",
      NR, rate, d[int(NR * 0.5) + 1], d[int(NR * 0.99) + 1], client50, client99, l
  }' "$work/durations"
