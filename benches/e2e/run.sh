#!/usr/bin/env bash
# End-to-end load benchmark of the real binary, beside the nginx yardstick.
#
#   wrk --HTTP--> consumer (client proxy) --mTLS--> provider (server proxy) --HTTP--> service
#
# Each security server is its own `xroad-sidecar run` process, built by
# `xroad-sidecar demo --external-nodes` (test CA, OCSP responder and the signed global
# configuration run in the demo process; nothing of theirs is on the message path). The
# service is an nginx instance configured like ../shared/bench/nginx-baseline.sh's (it reads
# the whole body, then answers a fixed ~1 KB SOAP or JSON response), so the two runs differ
# only by what sits in the middle. Requests are ../shared/bench/soap-post.lua's (the same
# bytes the nginx baseline sends) and rest-post.lua's.
#
# Measured per case: messages/s, p50/p99 latency (wrk), MB/s of request bodies, each server's
# CPU time per message (from /proc/PID/stat) and peak RSS (VmHWM, reset before each case),
# the signers' batch sizes (from the health port's /metrics). Once per run: time from process
# start to ready with a cached global configuration, idle RSS. Then the nginx baseline runs
# (unless NGINX=0), and report.py writes the results file with ratios and the SVG plot.
#
# Usage: benches/e2e/run.sh               (about 8 minutes with the defaults)
# Environment:
#   DURATION=10     seconds per wrk run
#   REPEATS=1       repeats of every case (the report shows medians)
#   KEYS=ec-p256    key algorithm of the network: ec-p256 (X-Road 7.6+ EC keys) or rsa2048
#   BIN=PATH        the binary (default: target/release/xroad-sidecar, built if missing)
#   OUT=DIR         where results go (default: benches/results)
#   NGINX=1         also run ../shared/bench/nginx-baseline.sh (NGINX_REPEATS=1)
#   ONLY=REGEX      run only our cases whose label matches
#   BASE_PORT=18600 the service's port (nginx-baseline uses 18400-18403)
#   XROAD_TLS_CIPHERS=…  passed on to the servers (default: ours, GCM before Java's CBC
#                   suites, so the servers agree on GCM); Java's channel, CBC only:
#                   TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,TLS_DHE_RSA_WITH_AES_256_CBC_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
#   KEEP_TMP=1      keep the temp dir
#   HOLD=1          after the smoke run, keep the network up for experiments by hand
#                   (strace, perf, wrk with other settings): prints the URL and the PIDs,
#                   and stops the run (cleanly) when the file it names is created
#   PROFILE=1       also sample both servers with `perf record` during every case and write
#                   the hottest functions to OUT/profile-<node>-<case>.txt and the CPU time
#                   per message by stage to OUT/stages-<node>-<case>.txt (stages.py)
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-1}
KEYS=${KEYS:-ec-p256}
BIN=${BIN:-$ROOT/target/release/xroad-sidecar}
OUT=${OUT:-$ROOT/benches/results}
NGINX=${NGINX:-1}
NGINX_REPEATS=${NGINX_REPEATS:-1}
ONLY=${ONLY:-}
BASE_PORT=${BASE_PORT:-18600}
KEEP_TMP=${KEEP_TMP:-0}
PROFILE=${PROFILE:-0}
HOLD=${HOLD:-0}
P_SVC=$BASE_PORT
SOAP_LUA=$SHARED/bench/soap-post.lua
REST_LUA=$HERE/rest-post.lua
SMALL=1200          # the nginx baseline's "1 KB" SOAP request
REST_SMALL=1000
BIG=10000000        # 10 MB

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'e2e bench: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
command -v curl >/dev/null || die "curl is missing"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX_BIN" ] || die "nginx is missing (apt-get install nginx-light)"
[ -r "$SOAP_LUA" ] || die "missing $SOAP_LUA (../shared beside the repository)"
if [ ! -x "$BIN" ]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --bin xroad-sidecar)
fi
mkdir -p "$OUT"
CLK_TCK=$(getconf CLK_TCK)

W=$(mktemp -d "${TMPDIR:-/tmp}/xroad-e2e.XXXXXX")
chmod 711 "$W"
PIDS=()
stop_pid() { # TERM, up to 15 s (the nodes' grace period is 10 s), then KILL
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 300); do [ -e "/proc/$pid" ] || return 0; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ "$KEEP_TMP" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -z "$(ss -Htln "sport = :$P_SVC")" ] || die "port $P_SVC is in use (set BASE_PORT)"

# ------------------------------------------------------------------ the service (nginx)
SOAP_RESPONSE='<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers" xmlns:ns1="http://test.x-road.global/producer"><SOAP-ENV:Header><xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>COM</id:memberClass><id:memberCode>1234567-8</id:memberCode><id:subsystemCode>BENCHCLIENT</id:subsystemCode></xrd:client><xrd:service id:objectType="SERVICE"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>8765432-1</id:memberCode><id:subsystemCode>BENCHSERVICE</id:subsystemCode><id:serviceCode>getRandom</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service><xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id><xrd:userId>EE12345678901</xrd:userId><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body><ns1:getRandomResponse><ns1:response><ns1:data>'
SOAP_TAIL='</ns1:data></ns1:response></ns1:getRandomResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>'
pad=$((1024 - ${#SOAP_RESPONSE} - ${#SOAP_TAIL})); [ "$pad" -gt 0 ] || pad=0
SOAP_RESPONSE="$SOAP_RESPONSE$(head -c "$pad" /dev/zero | tr '\0' '7')$SOAP_TAIL"
JSON_RESPONSE="{\"id\":1,\"name\":\"benchmark\",\"data\":\"$(head -c 980 /dev/zero | tr '\0' '7')\"}"

SVC=$W/service
mkdir -p "$SVC/logs" "$SVC/tmp"
chmod 711 "$SVC" "$SVC/tmp"
cat >"$SVC/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $SVC/nginx.pid;
error_log $SVC/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $SVC/tmp/body;
  proxy_temp_path $SVC/tmp/proxy;
  fastcgi_temp_path $SVC/tmp/fastcgi;
  uwsgi_temp_path $SVC/tmp/uwsgi;
  scgi_temp_path $SVC/tmp/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 2m;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$P_SVC backlog=4096;
    # Read the whole body, then answer (see nginx-baseline.sh's conf_service).
    location = /__sink { internal; return 204; }
    location @soap { default_type "text/xml; charset=utf-8"; return 200 '$SOAP_RESPONSE'; }
    location @json { default_type application/json; return 200 '$JSON_RESPONSE'; }
    location /soap { mirror /__sink; mirror_request_body on; stub_status; error_page 405 = @soap; }
    location /rest/ { mirror /__sink; mirror_request_body on; stub_status; error_page 405 = @json; }
  }
}
EOF
"$NGINX_BIN" -p "$SVC/" -c "$SVC/nginx.conf" </dev/null >"$SVC/logs/stdout.log" 2>&1 &
PIDS+=($!)
SVC_MASTER=$!

# ------------------------------------------------------------------ the X-Road network
cat >"$W/topology.yaml" <<EOF
instance: DEV
keys: $KEYS
members:
  - { class: COM, code: "1234567-8", name: Bench Client Ltd, subsystems: [BENCHCLIENT] }
  - { class: GOV, code: "8765432-1", name: Bench Service Agency, subsystems: [BENCHSERVICE] }
security-servers:
  - { code: consumer, owner: COM/1234567-8, clients: [COM/1234567-8/BENCHCLIENT] }
  - { code: provider, owner: GOV/8765432-1, clients: [GOV/8765432-1/BENCHSERVICE] }
services:
  - provider: GOV/8765432-1/BENCHSERVICE
    code: getRandom
    type: soap
    version: v1
    url: http://127.0.0.1:$P_SVC/soap
    allowed: [COM/1234567-8/BENCHCLIENT]
  - provider: GOV/8765432-1/BENCHSERVICE
    code: bench
    type: rest
    url: http://127.0.0.1:$P_SVC/rest
    allowed: [COM/1234567-8/BENCHCLIENT]
EOF
log "building the network ($KEYS keys)"
"$BIN" demo --external-nodes --topology "$W/topology.yaml" --state-dir "$W/net" \
    </dev/null >"$W/demo.log" 2>&1 &
PIDS+=($!)
DEMO=$!
for _ in $(seq 1 600); do
    [ -s "$W/net/network.json" ] && break
    [ -e "/proc/$DEMO" ] || { cat "$W/demo.log" >&2; die "the demo network did not start"; }
    sleep 0.1
done
[ -s "$W/net/network.json" ] || die "the demo network was not ready in 60 s"
node_field() { # node field
    python3 -c 'import json,sys; n=[n for n in json.load(open(sys.argv[1]))["nodes"] if n["name"]==sys.argv[2]][0]; print(n[sys.argv[3]])' \
        "$W/net/network.json" "$1" "$2"
}
CLIENT_HTTP=$(node_field consumer client_http)
declare -A HEALTH CONFIG PID READY IDLE
for n in consumer provider; do
    HEALTH[$n]=$(node_field "$n" health_check)
    CONFIG[$n]=$(node_field "$n" config)
done

start_node() { # name -> PID[name], READY[name] (ms)
    local out
    out=$(python3 "$HERE/start_node.py" "${HEALTH[$1]}" "$W/$1.log" -- \
        env XROAD_LOG=warn "$BIN" run -c "${CONFIG[$1]}") \
        || { tail -20 "$W/$1.log" >&2; die "$1 did not become ready"; }
    PID[$1]=${out% *}
    READY[$1]=${out#* }
    PIDS+=("${PID[$1]}")
}
rss_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }

# First start: downloads the global configuration. Second start: from the cached one.
for n in provider consumer; do start_node "$n"; done
log "first start (downloads the global configuration): provider ${READY[provider]} ms, consumer ${READY[consumer]} ms"
for n in provider consumer; do stop_pid "${PID[$n]}"; done
for n in provider consumer; do start_node "$n"; done
log "ready with a cached global configuration: provider ${READY[provider]} ms, consumer ${READY[consumer]} ms"

URL=http://$CLIENT_HTTP/
smoke() { # lua body-bytes
    local out
    out=$(BODY_BYTES=$2 wrk -t1 -c1 -d1s -s "$1" "$URL" 2>&1) || die "smoke run failed: $out"
    grep -q 'err_status=0 ' <<<"$out" || die "smoke run through $URL got errors: $out"
}
log "smoke: one second of SOAP and of REST through the chain"
smoke "$SOAP_LUA" "$SMALL"
smoke "$REST_LUA" "$REST_SMALL"
sleep 2
for n in provider consumer; do IDLE[$n]=$(rss_kb "${PID[$n]}" VmRSS); done
log "idle RSS after warm-up: provider ${IDLE[provider]} kB, consumer ${IDLE[consumer]} kB"
if [ "$HOLD" = 1 ]; then
    log "holding: URL=$URL consumer=${PID[consumer]} provider=${PID[provider]} service=$SVC_MASTER; touch $W/stop to end"
    until [ -e "$W/stop" ]; do sleep 1; done
    exit 0
fi

# ------------------------------------------------------------------ cases
cpu_ticks() { local f; read -r -a f <<<"$(sed 's/.*) //' "/proc/$1/stat")"; echo $((f[11] + f[12])); }
svc_pids() { echo "$SVC_MASTER $(pgrep -P "$SVC_MASTER" | tr '\n' ' ')"; }
metric() { # node name -> value of a /metrics counter
    curl -s --max-time 5 "http://${HEALTH[$1]}/metrics" | awk -v k="$2" '$1==k{print $2}'
}
RAW=$W/raw.tsv
: >"$RAW"
CASES=(
    "soap-1k  $SOAP_LUA 1  1 $SMALL"
    "soap-1k  $SOAP_LUA 16 2 $SMALL"
    "soap-1k  $SOAP_LUA 64 2 $SMALL"
    "rest-1k  $REST_LUA 1  1 $REST_SMALL"
    "rest-1k  $REST_LUA 16 2 $REST_SMALL"
    "rest-1k  $REST_LUA 64 2 $REST_SMALL"
    "soap-10m $SOAP_LUA 4  2 $BIG"
)
run_case() { # label lua conc threads body rep
    local label=$1 lua=$2 conc=$3 thr=$4 body=$5 rep=$6 n t0 t1 wlog res
    local -A c0 c1 b0 m0 b1 m1
    for n in provider consumer; do
        echo 5 >"/proc/${PID[$n]}/clear_refs" 2>/dev/null || true   # resets VmHWM
        c0[$n]=$(cpu_ticks "${PID[$n]}")
        b0[$n]=$(metric "$n" xroad_signer_batches_total)
        m0[$n]=$(metric "$n" xroad_signer_batched_messages_total)
    done
    local s0=0 s1=0 p
    for p in $(svc_pids); do s0=$((s0 + $(cpu_ticks "$p"))); done
    wlog=$W/wrk-$label-c$conc-r$rep.log
    local perfs=()
    if [ "$PROFILE" = 1 ]; then
        for n in provider consumer; do
            perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "${PID[$n]}" -o "$W/perf-$n-$label-c$conc.data" \
                -- sleep "$DURATION" >/dev/null 2>&1 &
            perfs+=($!)
        done
    fi
    t0=$(date +%s.%N)
    BODY_BYTES=$body timeout $((DURATION + 30)) wrk -t"$thr" -c"$conc" -d"${DURATION}s" \
        --timeout 10s --latency -s "$lua" "$URL" </dev/null >"$wlog" 2>&1 || true
    t1=$(date +%s.%N)
    for p in "${perfs[@]}"; do wait "$p" || true; done
    if [ "$PROFILE" = 1 ]; then
        for n in provider consumer; do
            perf report -i "$W/perf-$n-$label-c$conc.data" --no-children --sort symbol \
                --percent-limit 0.5 --stdio 2>/dev/null | sed -E "s/ +-? +-? *$//" | grep -v "^$" | head -150 \
                >"$OUT/profile-$n-$label-c$conc.txt" || true
        done
    fi
    for p in $(svc_pids); do s1=$((s1 + $(cpu_ticks "$p"))); done
    for n in provider consumer; do
        c1[$n]=$(cpu_ticks "${PID[$n]}")
        b1[$n]=$(metric "$n" xroad_signer_batches_total)
        m1[$n]=$(metric "$n" xroad_signer_batched_messages_total)
    done
    res=$(grep '^WRKRESULT' "$wlog" || true)
    [ -n "$res" ] || { tail -5 "$wlog" >&2; log "  !! no result for $label c=$conc"; return 0; }
    # label conc body rep WRKRESULT-fields... then per node: cpu_ticks hwm_kb batches messages
    printf '%s\t%s\t%s\t%s\t%s\twall=%s\tclk=%s\tcons_cpu=%s\tprov_cpu=%s\tsvc_cpu=%s\tcons_hwm=%s\tprov_hwm=%s\tcons_batches=%s\tcons_batched=%s\tprov_batches=%s\tprov_batched=%s\n' \
        "$label" "$conc" "$body" "$rep" "${res#WRKRESULT }" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$CLK_TCK" \
        $((c1[consumer] - c0[consumer])) $((c1[provider] - c0[provider])) $((s1 - s0)) \
        "$(rss_kb "${PID[consumer]}" VmHWM)" "$(rss_kb "${PID[provider]}" VmHWM)" \
        $((${b1[consumer]:-0} - ${b0[consumer]:-0})) $((${m1[consumer]:-0} - ${m0[consumer]:-0})) \
        $((${b1[provider]:-0} - ${b0[provider]:-0})) $((${m1[provider]:-0} - ${m0[provider]:-0})) \
        >>"$RAW"
    log "  $(tail -1 "$RAW" | python3 "$HERE/report.py" --line)"
    if [ "$PROFILE" = 1 ]; then
        local requests us
        requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$res")
        for n in provider consumer; do
            us=$(awk -v t=$((c1[$n] - c0[$n])) -v hz="$CLK_TCK" -v r="$requests" \
                'BEGIN{printf "%.1f", r ? t / hz / r * 1e6 : 0}')
            python3 "$HERE/stages.py" "$W/perf-$n-$label-c$conc.data" "$requests" "$us" \
                >"$OUT/stages-$n-$label-c$conc.txt" 2>/dev/null || true
        done
    fi
}
for rep in $(seq 1 "$REPEATS"); do
    for c in "${CASES[@]}"; do
        # shellcheck disable=SC2086
        set -- $c
        if [ -n "$ONLY" ] && ! grep -Eq -- "$ONLY" <<<"$1 c$3"; then continue; fi
        log "rep $rep/$REPEATS: $1 c=$3"
        run_case "$1" "$2" "$3" "$4" "$5" "$rep"
    done
done
for n in provider consumer; do stop_pid "${PID[$n]}"; done

META=$W/meta.txt
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(nproc) x $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "kernel=$(uname -r)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')"
    echo "binary=$(stat -c %s "$BIN")"
    echo "keys=$KEYS"
    echo "tls=${XROAD_TLS_CIPHERS:-the default list (GCM agreed)}"
    echo "duration=$DURATION"
    echo "repeats=$REPEATS"
    for n in provider consumer; do
        echo "ready_$n=${READY[$n]}"
        echo "idle_rss_$n=${IDLE[$n]}"
    done
} >"$META"

NGINX_RESULTS=$OUT/nginx-baseline.txt
if [ "$NGINX" = 1 ]; then
    log "the nginx baseline (../shared/bench/nginx-baseline.sh)"
    RESULTS=$NGINX_RESULTS DURATION=$DURATION REPEATS=$NGINX_REPEATS \
        bash "$SHARED/bench/nginx-baseline.sh" >"$W/nginx-baseline.log" 2>&1 \
        || log "nginx baseline exited with $? (see $NGINX_RESULTS)"
fi
cp "$RAW" "$OUT/e2e-raw.tsv"
python3 "$HERE/report.py" --raw "$RAW" --meta "$META" --nginx "$NGINX_RESULTS" \
    --out "$OUT/e2e.txt" --svg "$OUT/e2e.svg"
if command -v rsvg-convert >/dev/null; then
    rsvg-convert -o "$OUT/e2e.png" "$OUT/e2e.svg" || true
fi
cat "$OUT/e2e.txt"
log "results: $OUT/e2e.txt, plot: $OUT/e2e.svg (and .png with librsvg2-bin installed)"
