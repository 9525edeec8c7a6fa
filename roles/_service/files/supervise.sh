#!/bin/sh
# Managed by the hpc.vllm collection (role _service); local changes are overwritten.
#
# The "standalone" supervisor: keeps SERVICE_DIR/run.sh alive on nodes where neither system nor user
# systemd is usable (no root, no lingering), which is the common case on HPC compute nodes.
# It needs only POSIX sh, setsid and kill: no tmux, screen or daemon tools.
#
#   supervise.sh start  SERVICE_DIR   start the loop in its own session (prints "started" or "running")
#   supervise.sh stop   SERVICE_DIR   stop the loop and everything it started (prints "stopped" or "absent")
#   supervise.sh status SERVICE_DIR   exit 0 when running, 3 when not (LSB convention)
#   supervise.sh loop   SERVICE_DIR   the restart loop itself (used by start)
#
# Note for editors: dash's kill takes neither "--" nor "-s 0"; "kill -SIG -PGID" is the portable form.
set -u

action=${1:-}
dir=${2:-}
if [ -z "$action" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop|status|loop SERVICE_DIR" >&2
    exit 2
fi
pidfile=$dir/supervise.pid
# Process group of the current run: vLLM's engine and workers outlive a killed API server,
# and on a GPU they would keep its memory, so each run gets a group that is cleaned up as a whole.
pgidfile=$dir/run.pgid
log=$dir/service.log
# Backoff between restarts doubles from 1 s up to this bound; a run longer than
# STABLE_AFTER seconds counts as healthy and resets it.
MAX_DELAY=${SUPERVISE_MAX_DELAY:-30}
STABLE_AFTER=60

running_pid() {
    # A pid file alone proves nothing after a reboot or pid reuse: also check the process is our loop.
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "supervise.sh loop $dir" || return 1
    echo "$pid"
}

note() {
    echo "$(date '+%Y-%m-%dT%H:%M:%S%z') supervise: $*" >>"$log"
}

# wait_gone TARGET TENTHS: wait until kill -0 TARGET fails (a pid, or -PGID for a group).
wait_gone() {
    n=0
    while kill -0 "$1" 2>/dev/null; do
        n=$((n + 1))
        [ "$n" -lt "$2" ] || return 1
        sleep 0.1
    done
}

# reap PGID: end what is left of a run, politely first.
reap() {
    kill -TERM "-$1" 2>/dev/null || return 0
    wait_gone "-$1" 150 || kill -KILL "-$1" 2>/dev/null
    wait_gone "-$1" 50
}

case $action in
status)
    running_pid >/dev/null || exit 3
    ;;
start)
    if running_pid >/dev/null; then
        echo running
        exit 0
    fi
    # setsid: the loop leads its own session, so it survives the connection that started it.
    setsid /bin/sh "$0" loop "$dir" </dev/null >/dev/null 2>&1 &
    tries=0
    until running_pid >/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -le 50 ] || { echo "supervise loop did not start; see $log" >&2; exit 1; }
        sleep 0.1
    done
    echo started
    ;;
stop)
    pid=$(running_pid) || { rm -f "$pidfile"; echo absent; exit 0; }
    kill -TERM "$pid" 2>/dev/null
    # The loop forwards the signal and reaps its run (up to 20 s); past that, do it here.
    if ! wait_gone "$pid" 300; then
        kill -KILL "$pid" 2>/dev/null
        pgid=$(cat "$pgidfile" 2>/dev/null) && [ -n "$pgid" ] && reap "$pgid"
    fi
    rm -f "$pidfile" "$pgidfile"
    echo stopped
    ;;
loop)
    echo $$ >"$pidfile"
    child=
    stopping=
    trap 'stopping=1; [ -z "$child" ] || kill -TERM "-$child" 2>/dev/null' TERM INT HUP
    delay=1
    while [ -z "$stopping" ]; do
        started_at=$(date +%s)
        # Without job control a background job stays in our group, so setsid runs in place:
        # the run's pid is its process group id.
        setsid "$dir/run.sh" &
        child=$!
        echo "$child" >"$pgidfile"
        # wait returns early when a trapped signal arrives; wait again until the run is really over.
        while :; do
            wait "$child"
            rc=$?
            kill -0 "$child" 2>/dev/null || break
        done
        reap "$child"
        child=
        [ -z "$stopping" ] || break
        ran=$(($(date +%s) - started_at))
        [ "$ran" -lt "$STABLE_AFTER" ] || delay=1
        note "run.sh exited with status $rc after ${ran}s; restarting in ${delay}s"
        # In the background so that a stop signal interrupts the wait instead of outliving it.
        sleep "$delay" &
        wait $!
        delay=$((delay * 2))
        [ "$delay" -le "$MAX_DELAY" ] || delay=$MAX_DELAY
    done
    note "stopped"
    rm -f "$pidfile" "$pgidfile"
    ;;
*)
    echo "unknown action: $action" >&2
    exit 2
    ;;
esac
