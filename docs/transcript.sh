#!/usr/bin/env bash
# Regenerates docs/transcript.txt: the real reactor-server and two real
# reactor-client processes, each client in its own terminal (a tmux pane),
# typed into with `tmux send-keys` and captured with `tmux capture-pane`.
# What is captured is what the terminals showed: typed lines (echoed by the
# terminal) and the client's output. Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bins
bin="$PWD/target/debug"
work=$(mktemp -d)
alice="transcript-alice-$$"
bob="transcript-bob-$$"
server_pid=""
cleanup() {
    tmux kill-session -t "$alice" 2>/dev/null || true
    tmux kill-session -t "$bob" 2>/dev/null || true
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

printf 'alice:wonderland\nbob:builder\ncarol:s3cret\n' >"$work/users.conf"
(cd "$work" && exec "$bin/reactor-server" --bind 127.0.0.1:0 --users users.conf 2>server.log) &
server_pid=$!

# Waits (at most 10 s) until `check` succeeds.
wait_until() {
    for _ in $(seq 100); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for: $*" >&2
    exit 1
}
server_ready() { grep -q 'listening on ' "$work/server.log"; }
wait_until server_ready
addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/server.log")

# One terminal per person; the pane stays after the client exits.
for who in "$alice" "$bob"; do
    tmux new-session -d -s "$who" -x 100 -y 20 \
        "$bin/reactor-client --server $addr"
    tmux set-option -t "$who" remain-on-exit on >/dev/null
done

shows() { tmux capture-pane -p -t "$1" | grep -qF -- "$2"; }
# Types a line into a terminal, then waits for the line it should produce.
type_line() {
    tmux send-keys -t "$1" -l -- "$2"
    tmux send-keys -t "$1" Enter
    wait_until shows "$1" "$3"
}

type_line "$bob" 'bob->server#login<builder>' '* logged in as bob'
type_line "$alice" 'alice->server#login<wonderland>' '* logged in as alice'
type_line "$alice" 'alice->bob#hello bob, are you there?' '* message to bob accepted'
wait_until shows "$bob" 'alice: hello bob'
type_line "$bob" 'bob->alice#hi alice! yes, here.' '* message to alice accepted'
wait_until shows "$alice" 'bob: hi alice'
type_line "$alice" 'alice->carol#are you online?' '* carol is offline'
type_line "$alice" 'hello?' '* type ID->server#login'
type_line "$alice" 'alice->server#logoff' '* logged off'
# Ctrl-D: end of input. Bob is still online, so his client logs off first.
tmux send-keys -t "$alice" C-d
tmux send-keys -t "$bob" C-d
wait_until shows "$bob" '* logged off'
dead() { [ "$(tmux display-message -p -t "$1" '#{pane_dead}')" = 1 ]; }
wait_until dead "$alice"
wait_until dead "$bob"

terminal() { tmux capture-pane -p -S - -t "$1" | sed -e '/^Pane is dead/d' -e '/^$/d'; }
{
    echo "# reactor-client: alice's terminal"
    terminal "$alice"
    echo
    echo "# reactor-client: bob's terminal"
    terminal "$bob"
    echo
    echo "# reactor-server --bind 127.0.0.1:0: its log (stderr)"
    cat "$work/server.log"
} >docs/transcript.txt
echo "wrote docs/transcript.txt"
