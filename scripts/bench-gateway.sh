#!/usr/bin/env bash
# What a proxy adds, measured side by side in one run on loopback: tide gateway against nginx
# as a plain reverse proxy, both in front of the same upstream (docs/benchmarks.md).
#
# The upstream is nginx answering POST /v1/completions with a fixed small JSON (`return 200`),
# so it costs next to nothing and the proxies are what is measured. Then:
#   1. open loop (`tide bench http`): direct to the upstream, via nginx, via tide gateway, each at
#      --rate req/s for --duration s; added latency = via-proxy minus direct, at p50 and p99;
#   2. closed loop (`wrk -t1 -c64 -d10s`) through each proxy: the most requests/s one core gives
#      (--rounds times too, interleaved; the median of each figure).
# Each proxy runs on one core (taskset -c $PROXY_CPU) as one process: nginx with one worker,
# tide gateway with --threads 1. The upstream and the load generator share $LOAD_CPU (default:
# the other core). Each proxy's CPU time is read from /proc during every run, so "requests per
# proxy CPU-second" stays fair even where the load side, not the proxy, is the limit.
# The open-loop triple runs --rounds times, interleaved, and each figure is the median over
# rounds (added latency: the median of each round's via-proxy minus direct), so a neighbour's
# burst on a shared machine moves one round, not the result. Everything started runs at
# nice $NICE (default -10 as root, else 0), the same for both proxies.
#
# Usage: scripts/bench-gateway.sh [--rate R] [--duration S] [--rounds N] [--wrk-duration S]
#                                 [--connections N] [--out DIR] [--tide PATH] [--gateway-threads N]
# Needs nginx and wrk (scripts/install-deps.sh); runs unprivileged from a temporary directory and
# stops everything it started when it exits.
set -euo pipefail

rate=5000
duration=20
rounds=3
wrk_duration=10
connections=64
out=""
tide="build/release/src/cli/tide"
gateway_threads=1
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
if [ "$(id -u)" -eq 0 ]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi

while (($#)); do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --wrk-duration) wrk_duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tide) tide=$2; shift 2 ;;
    --gateway-threads) gateway_threads=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-gateway: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in nginx wrk taskset jq; do
  command -v "$tool" >/dev/null || { echo "bench-gateway: $tool not found; run scripts/install-deps.sh" >&2; exit 1; }
done
[ -x "$tide" ] || { echo "bench-gateway: $tide not built (cmake --build --preset release --target tide)" >&2; exit 1; }
tide=$(realpath "$tide")
(($(nproc) >= 2)) || { echo "bench-gateway: needs two cores (proxy on one, load on the other)" >&2; exit 1; }

work=$(mktemp -d /tmp/tide-bench-gateway.XXXXXX)
out=${out:-$work/results}
mkdir -p "$out"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The results stay; the servers' directories go (the whole of it when --out is elsewhere).
  case "$out" in
    "$work"/*) rm -rf "$work/up" "$work/nginx" "$work/gateway.yaml" "$work/post.lua" ;;
    *) rm -rf "$work" ;;
  esac
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then echo "$p"; return; fi
  done
  echo "bench-gateway: no free port found" >&2; exit 1
}
wait_port() {  # port, name, pid
  for _ in $(seq 100); do
    ! port_free "$1" && return 0
    kill -0 "$3" 2>/dev/null || { echo "bench-gateway: $2 exited at start; see $work/$2.log" >&2; cat "$work/$2.log" >&2 || true; exit 1; }
    sleep 0.05
  done
  echo "bench-gateway: $2 did not listen on $1" >&2; exit 1
}
# User + system CPU seconds of a process, all its threads.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

up_port=$(pick_port)
nginx_port=$(pick_port)
gateway_port=$(pick_port)
while [ "$nginx_port" = "$up_port" ]; do nginx_port=$(pick_port); done
while [ "$gateway_port" = "$up_port" ] || [ "$gateway_port" = "$nginx_port" ]; do gateway_port=$(pick_port); done

answer='{"id":"cmpl-bench","object":"text_completion","created":1764547200,"model":"demo","choices":[{"index":0,"text":" Hello!","finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}'

# nginx runs unprivileged: every path it writes lies under its prefix directory.
nginx_common() {  # prefix
  cat <<EOF
daemon off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
EOF
}

mkdir -p "$work/up" "$work/nginx"
{
  nginx_common "$work/up"
  cat <<EOF
  server {
    listen 127.0.0.1:$up_port;
    location = /v1/completions { default_type application/json; return 200 '$answer'; }
    location = /ready { default_type application/json; return 200 '{"status":"ready"}'; }
    location / { return 404; }
  }
}
EOF
} >"$work/up/nginx.conf"

# The reference proxy does what the gateway does to every request: HTTP/1.1 keep-alive to the
# upstream, a request id both ways, X-Forwarded-For.
{
  nginx_common "$work/nginx"
  cat <<EOF
  upstream upstream_pool {
    server 127.0.0.1:$up_port;
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://upstream_pool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id \$request_id;
      proxy_set_header X-Forwarded-For \$remote_addr;
      add_header X-Request-Id \$request_id always;
    }
  }
}
EOF
} >"$work/nginx/nginx.conf"

cat >"$work/gateway.yaml" <<EOF
listen: {host: 127.0.0.1, port: $gateway_port}
pools:
  - name: main
    replicas: ["127.0.0.1:$up_port"]
    balancer: round_robin
EOF

# Started as plain commands, so $! is the server itself (nice and taskset exec it).
nice -n "$NICE" taskset -c "$LOAD_CPU" nginx -p "$work/up" -e "$work/up/error.log" -c "$work/up/nginx.conf" >"$work/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")
nice -n "$NICE" taskset -c "$PROXY_CPU" nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 &
nginx_pid=$!; pids+=("$nginx_pid")
nice -n "$NICE" taskset -c "$PROXY_CPU" "$tide" --log-level warn gateway --config "$work/gateway.yaml" --no-access-log \
  --threads "$gateway_threads" >"$work/gateway.log" 2>&1 &
gateway_pid=$!; pids+=("$gateway_pid")
wait_port "$up_port" upstream "$up_pid"
wait_port "$nginx_port" nginx "$nginx_pid"
wait_port "$gateway_port" gateway "$gateway_pid"
# The nginx master only forks and waits; its worker does the proxying.
nginx_worker=$(awk -v parent="$nginx_pid" '$4 == parent { print $1; exit }' /proc/[0-9]*/stat 2>/dev/null)
[ -n "$nginx_worker" ] || { echo "bench-gateway: no nginx worker process" >&2; exit 1; }

body='{"model":"demo","prompt":"Say hello.","max_tokens":16}'
# One POST through bash's /dev/tcp: true when the answer's status line says 200.
probe() {
  local status
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#body}" "$body" >&3
  read -r -t 5 status <&3 || status=""
  exec 3<&-
  [[ $status == "HTTP/1.1 200 "* ]]
}
# The gateway listens before its first health check has passed: give it a few seconds.
for p in "$up_port" "$nginx_port" "$gateway_port"; do
  for try in $(seq 50); do probe "$p" && break; sleep 0.1; done
  probe "$p" || { echo "bench-gateway: POST /v1/completions on port $p failed" >&2; exit 1; }
done

echo "bench-gateway: upstream :$up_port, nginx :$nginx_port (worker $nginx_worker), tide gateway :$gateway_port" \
     "(--threads $gateway_threads); proxies on cpu $PROXY_CPU, load and upstream on cpu $LOAD_CPU, nice $NICE" >&2

on() { local cpu=$1; shift; nice -n "$NICE" taskset -c "$cpu" "$@"; }
# open_loop NAME PORT [PROXY_PID]
open_loop() {
  local before=0 after=0
  [ -n "${3:-}" ] && before=$(cpu_s "$3")
  on "$LOAD_CPU" "$tide" --log-level warn bench http --url "http://127.0.0.1:$2" --rate "$rate" \
    --duration-s "$duration" --connections "$connections" --body "$body" --no-progress \
    --json "$out/open-$1.json" >"$out/open-$1.txt"
  [ -n "${3:-}" ] && after=$(cpu_s "$3")
  echo "$before $after" >"$out/open-$1.cpu"
  echo "== open loop, $1 ==" >&2; cat "$out/open-$1.txt" | sed -n '1,7p' >&2
}

cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
# closed_loop NAME PORT [PROXY_PID]
closed_loop() {
  local before=0 after=0
  [ -n "${3:-}" ] && before=$(cpu_s "$3")
  on "$LOAD_CPU" wrk -t1 -c64 -d"${wrk_duration}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$2/v1/completions" >"$out/wrk-$1.txt"
  [ -n "${3:-}" ] && after=$(cpu_s "$3")
  echo "$before $after" >"$out/wrk-$1.cpu"
  echo "== wrk, $1 ==" >&2; grep -E 'Requests/sec|Non-2xx|Socket errors' "$out/wrk-$1.txt" >&2 || true
}

for r in $(seq "$rounds"); do
  open_loop "direct-$r" "$up_port"
  open_loop "nginx-$r" "$nginx_port" "$nginx_worker"
  open_loop "tide-$r" "$gateway_port" "$gateway_pid"
done
for r in $(seq "$rounds"); do
  closed_loop "direct-$r" "$up_port"
  closed_loop "nginx-$r" "$nginx_port" "$nginx_worker"
  closed_loop "tide-$r" "$gateway_port" "$gateway_pid"
done

# The summary: one table for people, summary.json for machines (every round's figures too).
wrk_rps() { awk '/Requests\/sec/ { print $2 }' "$out/wrk-$1.txt"; }
wrk_errors() {
  awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out/wrk-$1.txt"
}
cpu_delta() { awk '{ print $2 - $1 }' "$out/$1.cpu"; }

summary="$out/summary.json"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg host "$(uname -n)" --argjson cores "$(nproc)" \
  --argjson rate "$rate" --argjson duration "$duration" --argjson rounds "$rounds" \
  --argjson wrk_duration "$wrk_duration" --argjson connections "$connections" \
  --argjson gateway_threads "$gateway_threads" --argjson nice "$NICE" \
  '{benchmark: "gateway_overhead", date: $date, host: $host, cores: $cores, rate: $rate, duration_s: $duration,
    rounds: $rounds, connections: $connections, wrk_duration_s: $wrk_duration, gateway_threads: $gateway_threads,
    nice: $nice, targets: {}}' >"$summary"
for t in direct nginx tide; do
  runs="[]"
  for r in $(seq "$rounds"); do
    cpu=null
    [ "$t" != direct ] && cpu=$(cpu_delta "open-$t-$r")
    runs=$(jq -c --slurpfile open "$out/open-$t-$r.json" --slurpfile direct "$out/open-direct-$r.json" \
      --argjson cpu "$cpu" \
      '. + [{achieved_per_s: $open[0].throughput.achieved_per_s, latency_us: $open[0].latency_us,
             failed: $open[0].requests.failed,
             added_p50_us: ($open[0].latency_us.p50 - $direct[0].latency_us.p50),
             added_p99_us: ($open[0].latency_us.p99 - $direct[0].latency_us.p99),
             proxy_cpu_us_per_request: (if $cpu == null then null else $cpu * 1e6 / $open[0].requests.ok end)}]' \
      <<<"$runs")
  done
  wrk_runs="[]"
  for r in $(seq "$rounds"); do
    cpu=null
    [ "$t" != direct ] && cpu=$(cpu_delta "wrk-$t-$r")
    wrk_runs=$(jq -c --argjson rps "$(wrk_rps "$t-$r")" --argjson errors "$(wrk_errors "$t-$r")" --argjson cpu "$cpu" \
      --argjson s "$wrk_duration" \
      '. + [{requests_per_s: $rps, errors: $errors, proxy_cpu_s: $cpu,
             requests_per_proxy_cpu_s: (if $cpu == null then null else $rps * $s / $cpu end)}]' <<<"$wrk_runs")
  done
  jq --arg t "$t" --argjson runs "$runs" --argjson wrk_runs "$wrk_runs" \
    --argjson wrk_s "$wrk_duration" --arg direct "$([ "$t" = direct ] && echo 1)" \
    'def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                       else (.[length / 2 - 1] + .[length / 2]) / 2 end;
     def med(f): [$runs[] | f | select(. != null)] | median;
     def wmed(f): [$wrk_runs[] | f | select(. != null)] | median;
     .targets[$t] = {
       open_loop: {achieved_per_s: med(.achieved_per_s), p50_us: med(.latency_us.p50), p90_us: med(.latency_us.p90),
                   p99_us: med(.latency_us.p99), p999_us: med(.latency_us["p99.9"]),
                   added_p50_us: (if $direct == "1" then null else med(.added_p50_us) end),
                   added_p99_us: (if $direct == "1" then null else med(.added_p99_us) end),
                   proxy_cpu_us_per_request: med(.proxy_cpu_us_per_request),
                   failed: ([$runs[].failed] | add), rounds: $runs},
       closed_loop: {requests_per_s: wmed(.requests_per_s), errors: ([$wrk_runs[].errors] | add),
                     proxy_cpu_s: wmed(.proxy_cpu_s),
                     proxy_cores_busy: (wmed(.proxy_cpu_s) as $c | if $c == null then null else $c / $wrk_s end),
                     requests_per_proxy_cpu_s: wmed(.requests_per_proxy_cpu_s), rounds: $wrk_runs}}' \
    "$summary" >"$summary.tmp" && mv "$summary.tmp" "$summary"
done

echo
echo "Gateway overhead: $rate req/s open loop, $duration s x $rounds rounds (median), $connections connections;" \
     "wrk -t1 -c64 -d${wrk_duration}s x $rounds rounds (median); nice $NICE"
echo
echo "| target | achieved req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs | proxy CPU µs/req | wrk req/s | proxy cores busy | req/s per proxy core |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
jq -r '.targets | to_entries[] | .key as $k | .value as $v
  | def f(x; d): if x == null then "–" else (x * pow(10; d) | round) / pow(10; d) | tostring end;
  [ (if $k == "direct" then "direct (upstream)" elif $k == "nginx" then "nginx, 1 worker" else "tide gateway" end),
    f($v.open_loop.achieved_per_s; 0), f($v.open_loop.p50_us; 0), f($v.open_loop.p90_us; 0),
    f($v.open_loop.p99_us; 0), f($v.open_loop.p999_us; 0),
    f($v.open_loop.added_p50_us; 0), f($v.open_loop.added_p99_us; 0), f($v.open_loop.proxy_cpu_us_per_request; 1),
    f($v.closed_loop.requests_per_s; 0), f($v.closed_loop.proxy_cores_busy; 2),
    f($v.closed_loop.requests_per_proxy_cpu_s; 0) ] | "| " + join(" | ") + " |"' "$summary"
fails=$(jq '[.targets[] | .open_loop.failed + .closed_loop.errors] | add' "$summary")
((fails == 0)) || echo "warning: $fails failed requests (see $out)" >&2
echo
echo "Raw results: $out"
