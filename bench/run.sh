#!/usr/bin/env bash
# bench/run.sh: the intake benchmark of meterd, as ratios to a bare receiver.
#
# Why: absolute throughput depends on the box; the ratio to bench/bare_recv
# (recvmmsg and count, nothing else) on the same box, in the same run, does
# not. One invocation builds the tools, pins the server to one core and the
# load generator to another, and for the bare receiver and for `meterd run`
# measures: (1) server CPU seconds per million metrics at a fixed offered
# load (plus a coalescing receiver, bare_recv --coalesce, which takes fewer
# wake-ups the way meterd's intake does: the floor at 1 metric per datagram), (2) the highest offered rate held with < 0.1 %
# loss, (3) meterd's peak RSS against the number of contexts, (3b) its peak
# RSS with tagged contexts of mixed types through a flush that ships them
# with the Datadog sink to a real VictoriaMetrics, (4) kernel drops while
# meterd flushes 100k contexts at half its held rate, (5) meterd's held rate
# as a fraction of the bare receiver's, (6) kernel drops per run with the
# server's core shared (idle-priority spinners, then a normal-priority busy
# loop). Idle-priority spinners on every core run throughout, so the VM's
# vCPUs never halt between wake-ups. It prints a table and one JSON line.
# If meterd cannot be built, started or queried, its rows say
# "meterd: unavailable (<reason>)" and the bare receiver's rows still print.
#
# Environment knobs (with the defaults a whole run takes ~7 minutes):
#   BENCH_BUILD_DIR      build directory               (<repo>/build-bench)
#   BENCH_METERD         meterd binary to use          (built in BENCH_BUILD_DIR)
#   BENCH_SKIP_METERD=1  / BENCH_SKIP_BARE=1           skip one server
#   BENCH_SERVER_CPU / BENCH_SENDER_CPU                cores (0 / 1)
#   BENCH_SENDER_THREADS sender threads                (1)
#   BENCH_CPU_S          seconds per CPU measurement   (2)
#   BENCH_REPEAT         CPU measurements per figure, median taken (3)
#   BENCH_STEP_S         seconds per rate step         (2)
#   BENCH_RATES          offered metrics/s steps, 0 = flat out
#                        ("100000 200000 400000 800000 1600000 3200000 0")
#   BENCH_LOSS_MAX       loss allowed for "held"       (0.001)
#   BENCH_RSS_CONTEXTS   context counts for RSS        ("10000 100000 1000000")
#   BENCH_RSS_SENDS      times each context is sent    (3)
#   BENCH_FLUSH_CONTEXTS / BENCH_FLUSH_S / BENCH_FLUSH_INTERVAL   (100000 / 5 / 2)
#   BENCH_FLUSH_RATES    steps for the rate held with FLUSH_CONTEXTS contexts and
#                        a flush every FLUSH_INTERVAL s (the "sustainable" rate
#                        whose half section 4 measures drops at)
#                        ("500000 1000000 2000000 3000000 4000000 6000000")
#   BENCH_RCVBUF         SO_RCVBUF asked by both servers (26214400)
#   BENCH_NICE           niceness of server and sender (-10 as root, else unchanged;
#                        "" = unchanged); keeps other work on a shared box from
#                        preempting the measured processes as often
#   BENCH_RSS_RATE       offered rate while filling contexts (200000)
#   BENCH_METERD_CONF_EXTRA  YAML lines appended to meterd's config
#   BENCH_CONTEND_RUNS / BENCH_CONTEND_S   runs and seconds per contention load (3 / 5)
#   BENCH_CONTEND_RCVBUF SO_RCVBUF of both servers there (8388608, meterd's default; 0 = the OS default)
#   BENCH_SPIN_S         lifetime of the idle-priority spinners (1200)
#   BENCH_SECTIONS       what to run ("cpu held rss mix flush contend")
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
SENDER_CPU=${BENCH_SENDER_CPU:-1}
SENDER_THREADS=${BENCH_SENDER_THREADS:-1}
CPU_S=${BENCH_CPU_S:-2}
REPEAT=${BENCH_REPEAT:-3}
STEP_S=${BENCH_STEP_S:-2}
RATES=${BENCH_RATES:-"100000 200000 400000 800000 1600000 3200000 0"}
LOSS_MAX=${BENCH_LOSS_MAX:-0.001}
RSS_CONTEXTS=${BENCH_RSS_CONTEXTS:-"10000 100000 1000000"}
RSS_SENDS=${BENCH_RSS_SENDS:-3}
FLUSH_CONTEXTS=${BENCH_FLUSH_CONTEXTS:-100000}
FLUSH_S=${BENCH_FLUSH_S:-5}
FLUSH_INTERVAL=${BENCH_FLUSH_INTERVAL:-2}
FLUSH_RATES=${BENCH_FLUSH_RATES:-"500000 1000000 2000000 3000000 4000000 6000000"}
RCVBUF=${BENCH_RCVBUF:-26214400}
RSS_RATE=${BENCH_RSS_RATE:-200000}
CONTEND_RUNS=${BENCH_CONTEND_RUNS:-3}
CONTEND_S=${BENCH_CONTEND_S:-5}
CONTEND_RCVBUF=${BENCH_CONTEND_RCVBUF:-8388608}
SPIN_S=${BENCH_SPIN_S:-1200}
MIX_CONTEXTS=${BENCH_MIX_CONTEXTS:-"100000 1000000"}
SECTIONS=${BENCH_SECTIONS:-"cpu held rss mix flush contend"}
if [ "$(id -u)" = 0 ]; then NICE=${BENCH_NICE--10}; else NICE=${BENCH_NICE-}; fi
PIN_SERVER=(taskset -c "$SERVER_CPU")
PIN_SENDER=(taskset -c "$SENDER_CPU")
if [ -n "$NICE" ]; then
    PIN_SERVER=(nice -n "$NICE" "${PIN_SERVER[@]}")
    PIN_SENDER=(nice -n "$NICE" "${PIN_SENDER[@]}")
fi
CONTEXTS=1000           # contexts for the CPU and rate measurements
TAGS="env:prod,service:web"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meterd-bench.XXXXXX") || exit 1
PIDS=()                 # every background process we started, by PID
METERD_UNAVAIL=""       # reason, once meterd is known to be unusable
SEQ=0

log() { printf '%s\n' "$*" >&2; }

# --- process bookkeeping --------------------------------------------------

stop_pid() {            # stop_pid PID: TERM, bounded wait, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.03
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- small helpers ---------------------------------------------------------

calc() { awk "BEGIN { v = $1; if (v == int(v) && v < 1e15 && v > -1e15) printf \"%d\", v; else printf \"%.6g\", v }"; }
jget() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }   # flat JSON only
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
fmt_rate() { awk -v r="$1" 'BEGIN { if (r >= 1e6) printf "%.2fM", r / 1e6; else if (r >= 1e3) printf "%.0fk", r / 1e3; else printf "%d", r }'; }

# Server CPU in seconds. Summing per-thread schedstat (ns) beats the 10 ms
# ticks of /proc/PID/stat for runs this short; ticks are the fallback.
cpu_of() {
    local pid=$1 ns
    ns=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
    if [ -n "$ns" ] && [ "$ns" != 0 ]; then
        awk -v n="$ns" 'BEGIN { printf "%.6f", n / 1e9 }'
        return
    fi
    sed 's/.*) //' /proc/"$pid"/stat 2>/dev/null |
        awk -v hz="$CLK_TCK" '{ printf "%.6f", ($12 + $13) / hz }'
}
cpu_ticks_of() { sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | awk -v hz="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / hz }'; }

# "RXQ_BYTES DROPS" summed over every UDP socket bound to PORT.
udp_port_stats() {
    local want rx=0 drops=0 f fields lp
    want=$(printf '%04X' "$1")
    for f in /proc/net/udp /proc/net/udp6; do
        [ -r "$f" ] || continue
        while read -r -a fields; do
            lp=${fields[1]##*:}
            [ "$lp" = "$want" ] || continue
            rx=$((rx + 16#${fields[4]##*:}))
            drops=$((drops + ${fields[${#fields[@]} - 1]}))
        done < <(tail -n +2 "$f")
    done
    echo "$rx $drops"
}

port_in_use() {
    local hex f
    hex=$(printf ':%04X ' "$1")
    for f in /proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] && awk '{ print $2 " " }' "$f" | grep -q -- "$hex" && return 0
    done
    return 1
}

free_port() {
    local i p
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 30000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# loadgen PORT ARGS...: one paced run pinned to the sender core; prints its JSON.
loadgen() {
    local port=$1
    shift
    "${PIN_SENDER[@]}" "$LOADGEN" --port "$port" --cpu "$SENDER_CPU" \
        --threads "$SENDER_THREADS" --contexts "$CONTEXTS" --tags "$TAGS" "$@" 2>>"$TMP/loadgen.err"
}

# --- build -----------------------------------------------------------------

build_tools() {
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" "$ROOT" >"$TMP/setup.log" 2>&1 || {
            log "meson setup failed (see below); compiling the bench tools directly"
            tail -5 "$TMP/setup.log" >&2
        }
    fi
    if [ -f "$BUILD/build.ninja" ] && ninja -C "$BUILD" bench/loadgen bench/bare_recv >"$TMP/ninja.log" 2>&1; then
        LOADGEN=$BUILD/bench/loadgen
        BARE=$BUILD/bench/bare_recv
    else
        # The tools are standalone, so a broken tree elsewhere must not stop them.
        mkdir -p "$TMP/bin"
        LOADGEN=$TMP/bin/loadgen
        BARE=$TMP/bin/bare_recv
        cc -std=c11 -D_GNU_SOURCE -O2 -pthread -o "$LOADGEN" "$ROOT/bench/loadgen.c" &&
            cc -std=c11 -D_GNU_SOURCE -O2 -o "$BARE" "$ROOT/bench/bare_recv.c" || {
            log "cannot build the bench tools"
            exit 1
        }
    fi
    if [ "${BENCH_SKIP_METERD:-0}" = 1 ]; then
        METERD_UNAVAIL="skipped by BENCH_SKIP_METERD"
    elif [ -n "${BENCH_METERD:-}" ]; then
        METERD=$BENCH_METERD
        [ -x "$METERD" ] || METERD_UNAVAIL="BENCH_METERD=$METERD is not executable"
    elif [ ! -f "$BUILD/build.ninja" ]; then
        METERD_UNAVAIL="meson setup failed"
    elif ! ninja -C "$BUILD" meterd >"$TMP/ninja-meterd.log" 2>&1; then
        METERD_UNAVAIL="build failed: $(grep -m1 -E 'error|Error' "$TMP/ninja-meterd.log" | cut -c1-120)"
    else
        METERD=$BUILD/meterd
    fi
}

# --- the bare receiver -------------------------------------------------------

bare_start() {          # bare_start [--coalesce]; sets SRV_PID SRV_PORT SRV_OUT
    local ready i
    SEQ=$((SEQ + 1))
    ready=$TMP/bare.$SEQ.ready
    SRV_OUT=$TMP/bare.$SEQ.json
    "${PIN_SERVER[@]}" "$BARE" --port 0 --cpu "$SERVER_CPU" --rcvbuf "$RCVBUF" \
        --ready-file "$ready" --duration 600 "$@" >"$SRV_OUT" 2>"$TMP/bare.$SEQ.err" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    for ((i = 0; i < 250; i++)); do
        [ -s "$ready" ] && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.02
    done
    [ -s "$ready" ] || { log "bare_recv did not start: $(cat "$TMP/bare.$SEQ.err")"; return 1; }
    SRV_PORT=$(cat "$ready")
}

# Drained = its socket queue is empty; then read CPU at once, before idling.
bare_drain() {
    local i st
    for ((i = 0; i < 500; i++)); do
        st=$(udp_port_stats "$SRV_PORT")
        [ "${st%% *}" = 0 ] && break
        sleep 0.01
    done
    DRAIN_CPU=$(cpu_of "$SRV_PID")
    DRAIN_TICKS=$(cpu_ticks_of "$SRV_PID")
}

bare_stop() {           # sets COUNTED from the receiver's own report
    stop_pid "$SRV_PID"
    forget_pid "$SRV_PID"
    COUNTED=$(jget metrics "$(cat "$SRV_OUT")")
    COUNTED=${COUNTED:-0}
}

# --- meterd ------------------------------------------------------------------

md_metric() {           # md_metric NAME: value summed over label sets; empty if absent
    curl -s --max-time 1 "http://127.0.0.1:$MD_SPORT/metrics" 2>/dev/null |
        awk -v n="$1" '{ sub(/\{[^}]*\}/, "") } $1 == n { s += $2; f = 1 } END { if (f) printf "%.0f\n", s }'
}

md_start() {            # md_start [YAML lines...]; sets SRV_PID SRV_PORT MD_SPORT
    local conf i line
    [ -n "$METERD_UNAVAIL" ] && return 1
    SEQ=$((SEQ + 1))
    SRV_PORT=$(free_port) && MD_SPORT=$(free_port) || { METERD_UNAVAIL="no free port"; return 1; }
    conf=$TMP/meterd.$SEQ.yaml
    # Host collectors off: their CPU is not intake CPU.
    local c
    for c in cpu disk file_handle io load memory network processes self uptime; do
        mkdir -p "$TMP/confd/$c.d"
        printf 'instances:\n  - enabled: false\n' >"$TMP/confd/$c.d/conf.yaml"
    done
    {
        echo "dogstatsd_port: $SRV_PORT"
        echo "status_port: $MD_SPORT"
        echo "${MD_SINKS:-sinks: [console]}"
        echo "confd_path: $TMP/confd"
        # The server is pinned to one core: one intake thread (plus the aggregator).
        echo "dogstatsd_pipeline_count: ${BENCH_PIPELINES:-1}"
        # Sections 3 and 3b measure the cost of up to 1M contexts: no cap (the default is 250k).
        echo "dogstatsd_context_limit: 0"
        [ "$RCVBUF" != 0 ] && echo "dogstatsd_so_rcvbuf: $RCVBUF"
        for line in "$@"; do echo "$line"; done
        [ -n "${BENCH_METERD_CONF_EXTRA:-}" ] && printf '%s\n' "$BENCH_METERD_CONF_EXTRA"
    } >"$conf"
    MD_ERR=$TMP/meterd.$SEQ.err
    # The console sink is the cheapest sink with no backend; its output is noise here.
    "${PIN_SERVER[@]}" "$METERD" run -c "$conf" >/dev/null 2>"$MD_ERR" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    # Readiness poll, bounded by count and by a 5 s deadline (a hung accept must not stall us).
    local deadline=$(($(date +%s%N) + 5000000000))
    for ((i = 0; i < 250; i++)); do
        curl -sf --max-time 0.5 -o /dev/null "http://127.0.0.1:$MD_SPORT/health" && break
        kill -0 "$SRV_PID" 2>/dev/null || break
        (($(date +%s%N) < deadline)) || break
        sleep 0.02
    done
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
        METERD_UNAVAIL="exited at start: $(tail -c 300 "$MD_ERR" | tr '\n' ' ' | cut -c1-160)"
    elif ! curl -sf --max-time 0.5 -o /dev/null "http://127.0.0.1:$MD_SPORT/health"; then
        METERD_UNAVAIL="no /health on status_port within 5 s"
    elif [ -z "$(md_metric meterd_dogstatsd_metrics_total)" ]; then
        METERD_UNAVAIL="/metrics has no meterd_dogstatsd_metrics_total"
    fi
    if [ -n "$METERD_UNAVAIL" ]; then
        md_stop
        return 1
    fi
}

md_counters() {         # "metrics ring_full kernel_drops parse_errors" (missing = 0)
    local m r k e i
    for ((i = 0; i < 5; i++)); do     # a slow scrape must not read as zero
        m=$(md_metric meterd_dogstatsd_metrics_total)
        [ -n "$m" ] && break
        sleep 0.1
    done
    r=$(md_metric meterd_dogstatsd_ring_full_drops_total)
    k=$(md_metric meterd_dogstatsd_kernel_drops_total)
    e=$(md_metric meterd_dogstatsd_parse_errors_total)
    echo "${m:-0} ${r:-0} ${k:-0} ${e:-0}"
}

# Drained = metrics_total unchanged for 300 ms (bounded 15 s). The CPU figure
# is the one read when the final value was first seen, so idle time after the
# last datagram is not charged to the load.
md_drain() {
    local i cur last="" since=0 now deadline
    deadline=$(($(date +%s%N) + 15000000000))
    for ((i = 0; i < 300; i++)); do
        cur=$(md_metric meterd_dogstatsd_metrics_total)
        now=$(date +%s%N)
        ((now < deadline)) || { log "  meterd: metrics_total still moving after 15 s"; return 0; }
        if [ -z "$cur" ]; then
            kill -0 "$SRV_PID" 2>/dev/null || METERD_UNAVAIL="died under load: $(tail -c 200 "$MD_ERR" | tr '\n' ' ')"
            [ -n "$METERD_UNAVAIL" ] && return 1
        elif [ "$cur" != "$last" ]; then
            last=$cur
            since=$now
            DRAIN_CPU=$(cpu_of "$SRV_PID")
            DRAIN_TICKS=$(cpu_ticks_of "$SRV_PID")
        elif ((now - since >= 300000000)); then
            return 0
        fi
        sleep 0.05
    done
    return 0
}

md_stop() {
    [ -n "${SRV_PID:-}" ] || return 0
    stop_pid "$SRV_PID"
    forget_pid "$SRV_PID"
}

# --- one measured load ---------------------------------------------------------
# measure SERVER ARGS...: offered load on a server already started (meterd) or
# started here (bare). Sets SENT RATE_SENT COUNTED LOSS CPU_S_USED KDROPS RDROPS.
measure() {
    local kind=$1 c0 t0 m0 m1 lg st0 st1
    shift
    case $kind in
    bare) bare_start || return 1 ;;
    coal) bare_start --coalesce || return 1 ;;
    esac
    st0=$(udp_port_stats "$SRV_PORT")
    c0=$(cpu_of "$SRV_PID")
    t0=$(cpu_ticks_of "$SRV_PID")
    [ "$kind" = meterd ] && m0=$(md_counters)
    lg=$(loadgen "$SRV_PORT" "$@")
    SENT=$(jget sent_metrics "$lg")
    RATE_SENT=$(jget rate "$lg")
    if [ "$kind" != meterd ]; then
        bare_drain
        st1=$(udp_port_stats "$SRV_PORT")
        bare_stop
        RDROPS=0
    else
        md_drain || return 1
        st1=$(udp_port_stats "$SRV_PORT")
        m1=$(md_counters)
        set -- $m0 $m1
        COUNTED=$(($5 - $1))
        RDROPS=$(($6 - $2))
        MD_KDROPS_TELEMETRY=$(($7 - $3))
        PERR=$(($8 - $4))
        [ "$PERR" -gt 0 ] && log "  meterd: $PERR parse errors during this load"
        # metrics_total counts at intake; a full ring loses them after that count.
        COUNTED=$((COUNTED - RDROPS))
    fi
    KDROPS=$((${st1##* } - ${st0##* }))
    CPU_S_USED=$(calc "$DRAIN_CPU - $c0")
    CPU_TICKS_S_USED=$(calc "$DRAIN_TICKS - $t0")
    if [ -z "$SENT" ] || [ "$SENT" = 0 ]; then
        log "loadgen sent nothing: $(tail -3 "$TMP/loadgen.err")"
        return 1
    fi
    LOSS=$(calc "1 - $COUNTED / $SENT")
}

# --- report storage ------------------------------------------------------------
declare -A R            # R[server.key] = value

unavail_row() { printf '  %-8s %s\n' meterd: "unavailable (${METERD_UNAVAIL:-no figure})"; }

# --- 1. CPU per million metrics ---------------------------------------------------
sec_cpu() {
    local kind=$1 rate k r vals tvals spec
    for spec in "200000 20" "50000 1"; do
        set -- $spec
        rate=$1 k=$2 vals="" tvals=""
        for ((r = 0; r < REPEAT; r++)); do
            measure "$kind" --rate "$rate" --per-datagram "$k" --duration "$CPU_S" || return 1
            [ "$COUNTED" -gt 0 ] || { log "  $kind counted nothing"; return 1; }
            vals+=" $(calc "$CPU_S_USED / $COUNTED * 1000000")"
            tvals+=" $(calc "$CPU_TICKS_S_USED / $COUNTED * 1000000")"
            log "  $kind cpu @${rate}/s k=$k: cpu=${CPU_S_USED}s counted=$COUNTED loss=$LOSS"
        done
        R[$kind.cpu_per_M_k$k]=$(median <<<"$vals")
        R[$kind.cpu_runs_k$k]=$(echo $vals | tr ' ' ',')
        R[$kind.cpu_per_M_k${k}_stat_ticks]=$(median <<<"$tvals")
        R[$kind.cpu_loss_k$k]=$LOSS
    done
}

# --- 2. highest rate held ----------------------------------------------------------
sec_held() {
    local kind=$1 k rate held bound fail
    for k in 1 20; do
        held=0 bound=0 fail=""
        for rate in $RATES; do
            measure "$kind" --rate "$rate" --per-datagram "$k" --duration "$STEP_S" || return 1
            log "  $kind held k=$k offered=$(fmt_rate "$rate") sent=$(fmt_rate "$RATE_SENT")/s loss=$LOSS kdrops=$KDROPS"
            if awk -v l="$LOSS" -v m="$LOSS_MAX" 'BEGIN { exit !(l >= m) }'; then
                fail="$(fmt_rate "$RATE_SENT")/s lost $(calc "$LOSS * 100")%"
                break
            fi
            held=$(awk -v a="$held" -v b="$RATE_SENT" 'BEGIN { printf "%.0f", (b > a ? b : a) }')
            # The sender could not offer the step: the next steps would be the same.
            if [ "$rate" = 0 ] || awk -v s="$RATE_SENT" -v o="$rate" 'BEGIN { exit !(s < 0.9 * o) }'; then
                bound=1
                break
            fi
        done
        R[$kind.held_k$k]=$held
        R[$kind.held_k${k}_sender_bound]=$bound
        R[$kind.held_k${k}_first_fail]=${fail:-none}
    done
}

# --- 3. peak RSS against contexts ---------------------------------------------------
sec_rss() {
    local n prev_n="" prev_h="" h0 h rate=$RSS_RATE
    # New contexts cost more than updates: stay well under the held rate.
    [ -n "${R[meterd.held_k20]:-}" ] && rate=$(awk -v h="${R[meterd.held_k20]}" -v r="$RSS_RATE" 'BEGIN { h = h / 4; printf "%.0f", (h < r ? h : r) }')
    R[meterd.rss_rate]=$rate
    for n in $RSS_CONTEXTS; do
        md_start || return 1
        h0=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        CONTEXTS=$n measure meterd --rate "$rate" --per-datagram 20 --count $((n * RSS_SENDS)) --duration 60 || return 1
        h=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        R[meterd.rss_contexts_live_$n]=$(md_metric meterd_aggregator_contexts)
        # Then through a flush that ships them all (sealed frame, encoded and
        # compressed payloads): the peak an operator actually sees.
        local i f f0
        f0=$(md_metric meterd_flush_series_total)
        for ((i = 0; i < 100; i++)); do   # <= 20 s; counters zero-fill: the next window holds all n
            f=$(md_metric meterd_flush_series_total)
            [ "${f:-0}" -ge $((${f0:-0} + n)) ] && break
            sleep 0.2
        done
        R[meterd.rss_flush_kb_$n]=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        md_stop
        R[meterd.rss_kb_$n]=$h
        R[meterd.rss_idle_kb]=$h0
        R[meterd.rss_loss_$n]=$LOSS
        log "  meterd rss contexts=$n hwm=${h}kB through a flush ${R[meterd.rss_flush_kb_$n]}kB (idle ${h0}kB) loss=$LOSS"
        if [ -n "$prev_n" ]; then
            R[meterd.bytes_per_context_${prev_n}_$n]=$(calc "($h - $prev_h) * 1024 / ($n - $prev_n)")
        fi
        prev_n=$n prev_h=$h
    done
}

# --- 3b. peak RSS, mixed types, through a flush with the Datadog sink -------------
# MIX_CONTEXTS tagged contexts, 60 % counters, 20 % gauges, 20 % timers,
# each sent RSS_SENDS times, shipped by the Datadog sink to a real
# VictoriaMetrics on loopback: VmHWM through the flush that ships them all.
vm_start() {            # sets VM_PID VM_URL
    local port i
    port=$(free_port) || return 1
    victoria-metrics -storageDataPath="$TMP/vm-data" -httpListenAddr=127.0.0.1:"$port" \
        -retentionPeriod=100y -loggerLevel=WARN >"$TMP/vm.log" 2>&1 &
    VM_PID=$!
    PIDS+=("$VM_PID")
    VM_URL=http://127.0.0.1:$port
    for ((i = 0; i < 200; i++)); do
        [ "$(curl -s --max-time 0.5 "$VM_URL/health")" = OK ] && return 0
        kill -0 "$VM_PID" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}

sec_mix() {
    local n i f f0 h0 h series=0
    command -v victoria-metrics >/dev/null || { MIX_UNAVAIL="victoria-metrics not installed"; return 1; }
    vm_start || { MIX_UNAVAIL="VictoriaMetrics did not start"; return 1; }
    for n in $MIX_CONTEXTS; do
        MD_SINKS="sinks: [datadog]" md_start "dd_url: $VM_URL/datadog" "api_key: bench-key-0000" || return 1
        h0=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        f0=$(md_metric meterd_flush_series_total)
        CONTEXTS=$n measure meterd --rate "$RSS_RATE" --per-datagram 20 --mix c=6,g=2,ms=2 \
            --count $((n * RSS_SENDS)) --duration 120 || { md_stop; return 1; }
        h=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        # Every context's series shipped: 1 per counter or gauge, 5 per timer
        # (max, median, avg, count, 95percentile), so 1.8 per context. The
        # seal hands the window over 8192 series at a time, each once the
        # previous is encoded, so on a busy machine 1M contexts take a while.
        local t0=$SECONDS
        for ((i = 0; i < 600; i++)); do   # <= 120 s
            f=$(md_metric meterd_flush_series_total)
            [ $((${f:-0} - ${f0:-0})) -ge $((n * 18 / 10)) ] && break
            sleep 0.2
        done
        R[meterd.mix_flush_wait_s_$n]=$((SECONDS - t0))
        sleep 1                           # the payloads' POST after the count
        R[meterd.mix_flush_kb_$n]=$(awk '/VmHWM/ { print $2 }' /proc/"$SRV_PID"/status)
        R[meterd.mix_kb_$n]=$h
        R[meterd.mix_loss_$n]=$LOSS
        R[meterd.mix_live_$n]=$(md_metric meterd_aggregator_contexts)
        md_stop
        log "  meterd mixed rss contexts=$n hwm=${h}kB through a flush ${R[meterd.mix_flush_kb_$n]}kB (idle ${h0}kB) loss=$LOSS"
    done
}

# --- 4. kernel drops during a flush -------------------------------------------------
# The rate meterd sustains with FLUSH_CONTEXTS live contexts, each window
# sealing and shipping all of them: the held rate of section 2 (1000
# contexts, no flush inside a 2 s step) overstates it, because 100k contexts
# miss the caches on every sample. One meterd runs all the steps, so its
# contexts exist after the first.
sec_flush_held() {
    local rate held=0
    md_start "flush_interval: $FLUSH_INTERVAL" || return 1
    for rate in $FLUSH_RATES; do
        CONTEXTS=$FLUSH_CONTEXTS measure meterd --rate "$rate" --per-datagram 20 --duration "$FLUSH_S" || return 1
        log "  meterd held with flushes: offered=$(fmt_rate "$rate") sent=$(fmt_rate "$RATE_SENT")/s loss=$LOSS kdrops=$KDROPS"
        awk -v l="$LOSS" -v m="$LOSS_MAX" 'BEGIN { exit !(l >= m) }' && break
        held=$RATE_SENT
        awk -v s="$RATE_SENT" -v o="$rate" 'BEGIN { exit !(s < 0.9 * o) }' && break
    done
    md_stop
    R[meterd.flush_held]=$(awk -v h="$held" 'BEGIN { printf "%.0f", h }')
}

sec_flush() {
    local kind=$1 rate=$2
    if [ "$kind" = meterd ]; then md_start "flush_interval: $FLUSH_INTERVAL" || return 1; fi
    CONTEXTS=$FLUSH_CONTEXTS measure "$kind" --rate "$rate" --per-datagram 20 --duration "$FLUSH_S" || return 1
    [ "$kind" = meterd ] && md_stop
    R[$kind.flush_rate]=$rate
    R[$kind.flush_kernel_drops]=$KDROPS
    R[$kind.flush_ring_drops]=$RDROPS
    R[$kind.flush_loss]=$LOSS
    [ "$kind" = meterd ] && R[meterd.flush_kernel_drops_telemetry]=${MD_KDROPS_TELEMETRY:-}
    log "  $kind flush: rate=$rate kdrops=$KDROPS ringdrops=$RDROPS loss=$LOSS"
}

# --- 6. kernel drops when the server's core is shared ---------------------------
# A host agent runs on a busy host. With the idle-priority spinners alone,
# and then with a normal-priority busy loop on the server's core, the
# server (at the default niceness here, as deployed, not BENCH_NICE) takes
# CONTEND_RUNS runs of each load; every run's kernel drops are reported.
busy_start() {          # a normal-priority busy loop on the server's core, bounded in time
    timeout "$1" taskset -c "$SERVER_CPU" sh -c 'while :; do :; done' &
    BUSY_PID=$!
    PIDS+=("$BUSY_PID")
}

busy_stop() { stop_pid "$BUSY_PID"; forget_pid "$BUSY_PID"; }

sec_contend() {
    local kind=$1 mode spec rate k r drops rdrops saved=("${PIN_SERVER[@]}") RCVBUF=$CONTEND_RCVBUF
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    for mode in idle busy; do
        if [ "$kind" = meterd ]; then md_start || { PIN_SERVER=("${saved[@]}"); return 1; }; fi
        for spec in "50000 1" "200000 20"; do
            set -- $spec
            rate=$1 k=$2 drops="" rdrops=""
            for ((r = 0; r < CONTEND_RUNS; r++)); do
                [ "$mode" = busy ] && busy_start $((CONTEND_S + 20))
                measure "$kind" --rate "$rate" --per-datagram "$k" \
                    --count $((rate * CONTEND_S)) --duration $((CONTEND_S + 10)) || { [ "$mode" = busy ] && busy_stop; PIN_SERVER=("${saved[@]}"); return 1; }
                [ "$mode" = busy ] && busy_stop
                drops+=" $KDROPS" rdrops+=" $RDROPS"
                log "  $kind contend $mode @${rate}/s k=$k: kernel drops $KDROPS ring drops $RDROPS loss $LOSS"
            done
            R[$kind.contend_${mode}_k${k}_kdrops]=$(echo $drops | tr ' ' ',')
            R[$kind.contend_${mode}_k${k}_rdrops]=$(echo $rdrops | tr ' ' ',')
        done
        [ "$kind" = meterd ] && md_stop
    done
    PIN_SERVER=("${saved[@]}")
}

# Idle-priority spinners on every core keep the VM's vCPUs from halting
# between wake-ups (a halt and resume costs more than the work measured);
# SCHED_IDLE never takes time from anything else. Bounded by BENCH_SPIN_S.
spin_start() {
    local c
    for ((c = 0; c < $(nproc); c++)); do
        timeout "$SPIN_S" chrt -i 0 taskset -c "$c" sh -c 'while :; do :; done' &
        PIDS+=("$!")
    done
}

sender_capacity() {
    local t
    for t in 1 2; do
        bare_start || return 1
        lg=$(SENDER_THREADS=$t loadgen "$SRV_PORT" --rate 0 --per-datagram 1 --duration "$STEP_S")
        bare_drain
        bare_stop
        R[sender.max_dgram_rate_${t}t]=$(awk -v d="$(jget sent_datagrams "$lg")" -v e="$(jget elapsed_s "$lg")" 'BEGIN { printf "%.0f", d / e }')
        log "  sender $t thread(s) on cpu $SENDER_CPU: ${R[sender.max_dgram_rate_${t}t]} datagrams/s"
    done
}

# --- run -----------------------------------------------------------------------------
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

main() {
    LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
    CPU_SOURCE="/proc/PID/stat ticks (1/$CLK_TCK s)"
    [ -r /proc/$$/schedstat ] && [ "$(cut -d' ' -f1 /proc/$$/schedstat)" != 0 ] &&
        CPU_SOURCE="/proc/PID/task/*/schedstat (ns)"
    build_tools
    spin_start
    log "tools: $LOADGEN $BARE; meterd: ${METERD_UNAVAIL:-$METERD}"
    log "server cpu $SERVER_CPU, sender cpu $SENDER_CPU x $SENDER_THREADS thread(s), nice ${NICE:-unchanged}; sections: $SECTIONS"
    local bare_ok=1 md_ok=1

    if [ "${BENCH_SKIP_BARE:-0}" != 1 ]; then
        log "[bare] sender capacity, CPU, held rate"
        { sender_capacity && { ! want cpu || sec_cpu bare; } && { ! want held || sec_held bare; }; } || bare_ok=0
        want cpu && { sec_cpu coal || log "  coalescing receiver: CPU measurement failed"; }
    else
        bare_ok=0
    fi
    if [ -z "$METERD_UNAVAIL" ] && { want cpu || want held; }; then
        log "[meterd] CPU, held rate"
        { md_start && { ! want cpu || sec_cpu meterd; } && { ! want held || sec_held meterd; }; } || md_ok=0
        md_stop
        [ -z "$METERD_UNAVAIL" ] && [ "$md_ok" = 0 ] && METERD_UNAVAIL="measurement failed"
    fi
    if [ -z "$METERD_UNAVAIL" ] && want rss; then
        log "[meterd] RSS vs contexts"
        sec_rss || METERD_UNAVAIL=${METERD_UNAVAIL:-"RSS measurement failed"}
    fi
    if [ -z "$METERD_UNAVAIL" ] && want mix; then
        log "[meterd] RSS, $MIX_CONTEXTS mixed-type contexts through a Datadog-sink flush"
        sec_mix || log "  mixed-type RSS: ${MIX_UNAVAIL:-failed}"
    fi
    local frate=""
    if want flush; then
        if [ -z "$METERD_UNAVAIL" ]; then
            log "[flush] rate held with $FLUSH_CONTEXTS contexts and flushes"
            sec_flush_held || METERD_UNAVAIL=${METERD_UNAVAIL:-"flush held-rate measurement failed"}
        fi
        [ "${R[meterd.flush_held]:-0}" -gt 0 ] && frate=$((${R[meterd.flush_held]} / 2))
        [ -z "$frate" ] && [ -n "${R[meterd.held_k20]:-}" ] && frate=$((${R[meterd.held_k20]} / 2))
        [ -z "$frate" ] && [ -n "${R[bare.held_k20]:-}" ] && frate=$((${R[bare.held_k20]} / 2))
        if [ -n "$frate" ]; then
            log "[flush] $FLUSH_CONTEXTS contexts at $frate metrics/s"
            [ -z "$METERD_UNAVAIL" ] && { sec_flush meterd "$frate" || METERD_UNAVAIL=${METERD_UNAVAIL:-"flush measurement failed"}; }
            [ "$bare_ok" = 1 ] && sec_flush bare "$frate"
        fi
    fi
    if want contend; then
        log "[contend] kernel drops with the server's core shared"
        [ "${BENCH_SKIP_BARE:-0}" != 1 ] && sec_contend bare
        [ -z "$METERD_UNAVAIL" ] && { sec_contend meterd || METERD_UNAVAIL=${METERD_UNAVAIL:-"contention measurement failed"}; }
    fi
    report
}

ratio() {               # ratio A B -> A/B or empty
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
}

show() { local v=${R[$1]:-}; echo "${v:-—}"; }

held_cell() {
    local s=$1 k=$2 v
    v=${R[$s.held_k$k]:-}
    [ -z "$v" ] && { echo "—"; return; }
    printf '%s/s%s' "$(fmt_rate "$v")" "$([ "${R[$s.held_k${k}_sender_bound]}" = 1 ] && echo ' (sender-bound)')"
}

report() {
    local s n
    R[ratio.cpu_k20]=$(ratio "${R[meterd.cpu_per_M_k20]:-}" "${R[bare.cpu_per_M_k20]:-}")
    R[ratio.cpu_k1]=$(ratio "${R[meterd.cpu_per_M_k1]:-}" "${R[bare.cpu_per_M_k1]:-}")
    R[ratio.cpu_k20_coal]=$(ratio "${R[meterd.cpu_per_M_k20]:-}" "${R[coal.cpu_per_M_k20]:-}")
    R[ratio.cpu_k1_coal]=$(ratio "${R[meterd.cpu_per_M_k1]:-}" "${R[coal.cpu_per_M_k1]:-}")
    R[ratio.held_k1]=$(ratio "${R[meterd.held_k1]:-}" "${R[bare.held_k1]:-}")
    R[ratio.held_k20]=$(ratio "${R[meterd.held_k20]:-}" "${R[bare.held_k20]:-}")

    R[env.loadavg_start]=$LOADAVG0
    R[env.cpu_source]=$CPU_SOURCE
    R[env.loadavg_end]=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "meterd intake benchmark — server on cpu $SERVER_CPU, sender on cpu $SENDER_CPU ($(nproc) cpus, $(uname -r))"
    echo "load average at start: $LOADAVG0, at end: ${R[env.loadavg_end]} (other work on these cores skews every figure)"
    echo
    echo "1. server CPU-s per 1M metrics (median of $REPEAT x ${CPU_S}s, tagged lines, $CONTEXTS contexts; from $CPU_SOURCE)"
    printf '  %-8s %22s %22s\n' server "200k/s @20/datagram" "50k/s @1/datagram"
    for s in bare coal meterd; do
        if [ "$s" = meterd ] && [ -z "${R[meterd.cpu_per_M_k1]:-}" ]; then unavail_row; continue; fi
        printf '  %-8s %22s %22s\n' "$s" "$(show $s.cpu_per_M_k20)" "$(show $s.cpu_per_M_k1)"
    done
    printf '  %-8s %22s %22s\n' "ratio" "${R[ratio.cpu_k20]:-—}" "${R[ratio.cpu_k1]:-—}"
    printf '  %-8s %22s %22s\n' "/coal" "${R[ratio.cpu_k20_coal]:-—}" "${R[ratio.cpu_k1_coal]:-—}"
    echo "  (bare: blocking recvmmsg MSG_WAITFORONE, a wake-up per datagram or client burst; coal: the same plus meterd's"
    echo "   coalescing, a nap of <= 1 ms then a read without waiting while traffic flows, the floor at 1/datagram;"
    echo "   ratio = meterd / bare, /coal = meterd / coal)"
    echo
    echo "2. highest rate held with loss < $(calc "$LOSS_MAX * 100")% (${STEP_S}s steps: $RATES; 0 = flat out)"
    printf '  %-8s %26s %26s\n' server "@1/datagram" "@20/datagram"
    for s in bare meterd; do
        if [ "$s" = meterd ] && [ -z "${R[meterd.held_k1]:-}" ]; then unavail_row; continue; fi
        printf '  %-8s %26s %26s\n' "$s" "$(held_cell $s 1)" "$(held_cell $s 20)"
        printf '  %-8s %26s %26s\n' "" "fail: ${R[$s.held_k1_first_fail]:-—}" "fail: ${R[$s.held_k20_first_fail]:-—}"
    done
    echo "  sender alone: $(show sender.max_dgram_rate_1t) datagrams/s with 1 thread, $(show sender.max_dgram_rate_2t) with 2 (all on cpu $SENDER_CPU)"
    echo
    echo "3. meterd peak RSS (VmHWM) vs contexts (counters, each sent $RSS_SENDS times${R[meterd.rss_rate]:+ at $(fmt_rate "${R[meterd.rss_rate]}")/s}, 20/datagram)"
    if [ -z "${R[meterd.rss_idle_kb]:-}" ]; then unavail_row; else
        echo "  idle: ${R[meterd.rss_idle_kb]} kB"
        for n in $RSS_CONTEXTS; do echo "  $n contexts: $(show meterd.rss_kb_$n) kB after the sends, $(show meterd.rss_flush_kb_$n) kB through a flush of them all (loss $(show meterd.rss_loss_$n), meterd_aggregator_contexts $(show meterd.rss_contexts_live_$n))"; done
        for k in "${!R[@]}"; do [[ $k == meterd.bytes_per_context_* ]] && echo "  growth ${k#meterd.bytes_per_context_}: ${R[$k]} B/context"; done | sort
    fi
    echo
    echo "3b. meterd peak RSS (VmHWM), tagged contexts of 60 % counters, 20 % gauges, 20 % timers, each sent $RSS_SENDS times, Datadog sink to VictoriaMetrics"
    for n in $MIX_CONTEXTS; do
        [ -n "${R[meterd.mix_kb_$n]:-}" ] || { echo "  $n contexts: —"; continue; }
        echo "  $n contexts: $(show meterd.mix_kb_$n) kB after the sends, $(show meterd.mix_flush_kb_$n) kB ($(awk -v k="${R[meterd.mix_flush_kb_$n]}" 'BEGIN { printf "%.1f", k / 1024 }') MiB) through the flush that ships them (loss $(show meterd.mix_loss_$n), contexts $(show meterd.mix_live_$n); sealed and encoded $(show meterd.mix_flush_wait_s_$n) s after the sends)"
    done
    echo
    echo "4. drops while flushing $FLUSH_CONTEXTS contexts (${FLUSH_S}s @20/datagram, flush_interval $FLUSH_INTERVAL s, at half the rate meterd held with them: $(fmt_rate "${R[meterd.flush_held]:-0}")/s)"
    for s in meterd bare; do
        if [ "$s" = meterd ] && [ -z "${R[meterd.flush_rate]:-}" ]; then unavail_row; continue; fi
        [ -z "${R[$s.flush_rate]:-}" ] && continue
        printf '  %-8s rate %s/s  kernel drops %s  ring-full drops %s  loss %s\n' "$s" \
            "$(fmt_rate "${R[$s.flush_rate]}")" "$(show $s.flush_kernel_drops)" "$(show $s.flush_ring_drops)" "$(show $s.flush_loss)"
    done
    echo
    echo "6. kernel drops per run, server's core shared ($CONTEND_RUNS runs of ${CONTEND_S}s each; server at nice 0, SO_RCVBUF $([ "$CONTEND_RCVBUF" = 0 ] && echo "the OS default" || echo "$CONTEND_RCVBUF"))"
    printf '  %-8s %-6s %28s %28s\n' server core "50k/s @1/datagram" "200k/s @20/datagram"
    for s in bare meterd; do
        for mode in idle busy; do
            [ -n "${R[$s.contend_${mode}_k1_kdrops]:-}" ] || continue
            printf '  %-8s %-6s %28s %28s\n' "$s" "$mode" "$(show $s.contend_${mode}_k1_kdrops)" "$(show $s.contend_${mode}_k20_kdrops)"
        done
    done
    echo "  (idle: idle-priority spinners only; busy: plus a nice-0 busy loop on cpu $SERVER_CPU)"
    echo
    echo "5. meterd held rate / bare held rate"
    if [ -z "${R[ratio.held_k1]:-}" ]; then
        if [ -n "$METERD_UNAVAIL" ]; then unavail_row; else echo "  — (needs held rates of both servers)"; fi
    else
        echo "  @1/datagram: ${R[ratio.held_k1]}   @20/datagram: ${R[ratio.held_k20]:-—}  (a sender-bound pair reads ~1.00)"
    fi
    echo
    json
}

json() {
    local k first=1 v
    printf '{'
    [ -n "$METERD_UNAVAIL" ] && { printf '"meterd_unavailable":"%s"' "$(sed 's/["\\]/ /g' <<<"$METERD_UNAVAIL" | tr -d '\n')"; first=0; }
    for k in $(printf '%s\n' "${!R[@]}" | sort); do
        v=${R[$k]}
        [ -z "$v" ] && continue
        [ $first = 1 ] || printf ','
        first=0
        if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '"%s":%s' "$k" "$v"; else printf '"%s":"%s"' "$k" "$(sed 's/["\\]/ /g' <<<"$v")"; fi
    done
    printf '}\n'
}

main "$@"
