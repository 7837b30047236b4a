#!/usr/bin/env bash
# A cross-node chat, played for real: a nats-server, two reactor-server
# nodes (a and b), alice's reactor-client at node a and bob's at node b,
# typed into through pipes. Then alice logs in again at node b: her session
# at node a ends. Every step waits (at most 10 s) for the line it should
# produce; at the end both screens are printed (docs/cluster.md shows them).
#
#   docs/cluster-demo.sh    needs nats-server (apt-get install nats-server)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nats-server >/dev/null ||
    { echo "cluster-demo: nats-server not found (apt-get install nats-server)" >&2; exit 1; }
cargo build --quiet --bins
bin="$PWD/target/debug"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
printf 'alice:wonderland\nbob:builder\n' >users.conf

# Waits until file $1 has a line containing $2; on failure shows every file.
wait_for() {
    for _ in $(seq 100); do
        if grep -qF -- "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "cluster-demo: no line containing '$2' in $1" >&2
    tail -n +1 ./*.log ./*.screen >&2
    exit 1
}
# The broker on a port of its own choosing (-1), read back from its log.
nats-server -a 127.0.0.1 -p -1 >nats.log 2>&1 &
pids+=($!)
wait_for nats.log 'Listening for client connections on'
nats=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' nats.log)
for node in a b; do
    "$bin/reactor-server" --bind 127.0.0.1:0 --users users.conf \
        --nats "127.0.0.1:$nats" --node "$node" 2>"$node.log" &
    pids+=($!)
    wait_for "$node.log" 'broker link up'
done
addr() { sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$1.log"; }

# A client at node $2 whose screen is $1.screen and keyboard the pipe $1.keys.
client() {
    mkfifo "$1.keys"
    "$bin/reactor-client" --server "$(addr "$2")" <"$1.keys" >"$1.screen" 2>"$1.log" &
    pids+=($!)
}
client alice a
client bob b
client alice-again b
exec 3>alice.keys 4>bob.keys 5>alice-again.keys
# Types line $2 on keyboard $1, then waits for line $4 on screen $3.
type_line() { echo "$2" >&"$1"; wait_for "$3.screen" "$4"; }

type_line 4 'bob->server#login<builder>' bob '* logged in as bob'
type_line 3 'alice->server#login<wonderland>' alice '* logged in as alice'
type_line 3 'alice->bob#hello bob, from node a' bob 'alice: hello bob, from node a'
wait_for alice.screen '* message to bob accepted by the server'
type_line 4 'bob->alice#hi alice, this is node b' alice 'bob: hi alice, this is node b'
wait_for bob.screen '* message to alice accepted by the server'
# alice logs in again, at node b: node a ends her session there.
type_line 5 'alice->server#login<wonderland>' alice-again '* logged in as alice'
wait_for a.log 'alice logged in at another node: its session here ended'
type_line 3 'alice->bob#still at node a?' alice '* the server ended our session'
type_line 5 'alice->bob#alice again, from node b now' bob 'alice: alice again, from node b now'
# End of input: each client logs off (alice at node a has no session left).
exec 3>&- 4>&- 5>&-
wait_for bob.screen '* logged off'
wait_for alice-again.screen '* logged off'
wait_for alice.screen '* message to bob was not sent'
echo '--- alice, at node a'
cat alice.screen
echo '--- bob, at node b'
cat bob.screen
echo '--- alice again, at node b'
cat alice-again.screen
echo '--- node a, its log'
cat a.log
