#!/usr/bin/env bash
# The demo of docs/demo.md, run for real: one reactor-server (with --trace)
# and two reactor-client processes, each in its own terminal (a tmux pane),
# typed into with `tmux send-keys` and read back with `tmux capture-pane`.
# Each scene is a screenshot: the captured text of the terminals, drawn into
# a PNG in docs/img/ with ImageMagick and a monospace font.
#
#   docs/demo.sh           installs what it needs (tmux, imagemagick, fonts-dejavu-core),
#                          plays the scenes, writes docs/img/*.png and *.txt
#   docs/demo.sh --quick   plays the same scenes and checks every expected line,
#                          draws nothing and writes nothing in docs/ (CI runs this;
#                          it installs only tmux, and only if it is missing)
#
# Every step waits (at most 10 s) for the line it should produce on screen,
# so a failure says which line never came, and shows the screen.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) echo "usage: docs/demo.sh [--quick]" >&2; exit 2 ;;
esac

# Installs Debian packages (as root, or through sudo).
install() {
    echo "demo: installing $*" >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
packages=()
command -v tmux >/dev/null || packages+=(tmux)
if [ $quick = 0 ]; then
    # `convert` may be a stand-in that only reads PNGs: ask for the real one.
    convert -version 2>/dev/null | grep -q ImageMagick || packages+=(imagemagick)
    [ -f "$font" ] || packages+=(fonts-dejavu-core)
fi
if [ ${#packages[@]} -gt 0 ]; then install "${packages[@]}"; fi

cargo build --quiet --bins
bin="$PWD/target/debug"
work=$(mktemp -d)
shots="$work/shots"
mkdir -p "$shots"
sock="reactor-demo-$$"
tmux() { command tmux -L "$sock" -f /dev/null "$@"; }
cleanup() {
    tmux kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
unset TMUX

printf 'alice:wonderland\nbob:builder\ncarol:s3cret\n' >"$work/users.conf"

# Waits (at most 10 s) until `check` succeeds; on failure shows the screens.
wait_until() {
    for _ in $(seq 100); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    echo "demo: timed out waiting for: $*" >&2
    for pane in server alice bob; do
        echo "--- $pane" >&2
        tmux capture-pane -p -J -S - -t "$pane" >&2 || true
    done
    exit 1
}
# Drops the blank lines at the end of a screen (the rows below the last line).
trim() { sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
# The whole of a terminal's history, wrapped lines joined.
screen() { tmux capture-pane -p -J -S - -t "$1" | trim; }
shows() { screen "$1" | grep -qF -- "$2"; }
# Types a line into a terminal, then waits for the line it should produce.
type_line() {
    tmux send-keys -t "$1" -l -- "$2"
    tmux send-keys -t "$1" Enter
    wait_until shows "$1" "$3"
}
# Lines in a terminal's history so far: a scene shows the server's lines after it.
mark() { screen "$1" | wc -l; }
# The terminal's lines after `mark`, as the terminal wraps them, at most `rows`.
since() {
    local pane=$1 from=$2 rows=$3 width
    width=$(tmux display-message -p -t "$pane" '#{pane_width}')
    screen "$pane" | tail -n +"$((from + 1))" |
        fold -w "$width" | tail -n "$rows"
}
# What a terminal shows now, without the blank rows below the last line.
visible() { tmux capture-pane -p -t "$1" | trim; }

# The terminals: the hub on the right, wide enough for its trace; the two
# clients on the left. Their commands are what a person would type.
server_cmd="reactor-server --users users.conf --session-timeout 5 --trace"
tmux new-session -d -s server -x 112 -y 44 -c "$work" \
    "$bin/reactor-server --bind 127.0.0.1:0 --users users.conf --session-timeout 5 --trace"
tmux set-option -t server remain-on-exit on >/dev/null
wait_until shows server 'listening on '
addr=$(screen server | sed -n 's/.*listening on \([^ ]*\).*/\1/p')
for who in alice bob; do
    tmux new-session -d -s "$who" -x 74 -y 21 -c "$work" "$bin/reactor-client --server $addr"
    tmux set-option -t "$who" remain-on-exit on >/dev/null
done
client_cmd="reactor-client --server $addr"
wait_until shows alice '* type ID->server#login'
wait_until shows bob '* type ID->server#login'

# Scene 1: both log in.
type_line bob 'bob->server#login<builder>' '* logged in as bob'
type_line alice 'alice->server#login<wonderland>' '* logged in as alice'
wait_until shows server '[hub] alice: LOGIN_RECEIVED => ONLINE (password matches)'
visible alice >"$shots/1-alice.txt"
visible bob >"$shots/1-bob.txt"
visible server >"$shots/1-server.txt"

# Scene 2: a message each way, with the hub's trace of it.
from=$(mark server)
type_line alice 'alice->bob#hello bob, are you there?' '* message to bob accepted by the server'
wait_until shows bob 'alice: hello bob, are you there?'
wait_until shows server '[hub] bob: MESSAGE_FORWARD => ONLINE (receipt for msg'
type_line bob 'bob->alice#hi alice! yes, here.' '* message to alice accepted by the server'
wait_until shows alice 'bob: hi alice! yes, here.'
wait_until shows server '[hub] alice: MESSAGE_FORWARD => ONLINE (receipt for msg'
visible alice >"$shots/2-alice.txt"
visible bob >"$shots/2-bob.txt"
since server "$from" 44 >"$shots/2-server.txt"

# Scene 3: five quiet seconds, the sessions expire; alice types anyway.
from=$(mark server)
wait_until shows server '[hub] alice: ONLINE => OFFLINE (expired)'
type_line alice 'alice->bob#still there?' '* the server ended our session'
wait_until shows alice '* not logged in: message to bob will be sent after you log in'
type_line alice 'alice->server#login<wonderland>' '* bob is offline or unknown: message not delivered'
visible alice >"$shots/3-alice.txt"
since server "$from" 44 >"$shots/3-server.txt"

# The end: alice logs off, both quit with Ctrl-D, the hub with Ctrl-C.
type_line alice 'alice->server#logoff' '* logged off'
tmux send-keys -t alice C-d
tmux send-keys -t bob C-d
tmux send-keys -t server C-c
dead() { [ "$(tmux display-message -p -t "$1" '#{pane_dead}')" = 1 ]; }
for pane in alice bob server; do wait_until dead "$pane"; done
wait_until shows server 'reactor-server: INFO: stopped'

if [ $quick = 1 ]; then
    echo "demo: all scenes played and every expected line seen (quick mode: no pictures)"
    exit 0
fi

# Drawing: each terminal is a panel, its title bar naming the command, its
# lines coloured by kind the way a reader tells them apart.
size=15
cell_w=9     # DejaVu Sans Mono's advance at 15 px, rounded up
cell_h=19
colour() {
    # A trace line starts with its time since the start: `  1.048576 [udp] in ...`.
    local line=${1#"${1%%[![:space:].0-9]*}"}
    case "$line" in
        '[reactor]'*) echo '#8a8f98' ;;
        '[udp] in'*) echo '#7dcfff' ;;
        '[udp] out'*) echo '#9ece6a' ;;
        '[hub]'*|'[client]'*) echo '#e0af68' ;;
        *' INFO: '*|*' WARN: '*) echo '#a9b1d6' ;;
        '* '*) echo '#bb9af7' ;;
        *'->'*'#'*) echo '#ffffff' ;;
        *) echo '#c0caf5' ;;
    esac
}
# panel OUT TITLE COLS ROWS TEXTFILE
panel() {
    local out=$1 title=$2 cols=$3 rows=$4 file=$5
    local width=$((cols * cell_w + 20)) height=$(((rows + 1) * cell_h + 24))
    local args=(-size "${width}x${height}" xc:'#1a1b26'
        -fill '#2f3549' -draw "rectangle 0,0 $width,$((cell_h + 8))"
        -font "$font" -pointsize "$size"
        -fill '#c0caf5' -annotate "+10+$((cell_h - 1))" "$(escape "$title")")
    local y=$((2 * cell_h + 12)) line
    while IFS= read -r line || [ -n "$line" ]; do
        args+=(-fill "$(colour "$line")" -annotate "+10+$y" "$(escape "$line")")
        y=$((y + cell_h))
    done <"$file"
    convert "${args[@]}" -bordercolor '#565f89' -border 1 "$out"
}
# -annotate reads % and \ as escapes, and a leading @ as a file name.
escape() {
    local text=${1//\\/\\\\}
    text=${text//%/%%}
    [ "${text:0:1}" = @ ] && text="\\$text"
    printf '%s' "$text"
}
# shot NAME LEFT... -- RIGHT: the left panels stacked, the right one beside;
# 64 colours are plenty for text, and make the file a quarter of the size.
shot() {
    local name=$1
    shift
    local left=() right
    while [ "$1" != -- ]; do left+=("$1"); shift; done
    right=$2
    convert "${left[@]}" -background '#0f0f14' -splice 0x8 -append "$work/left.png"
    convert "$work/left.png" "$right" -background '#0f0f14' -splice 8x0 +append \
        -bordercolor '#0f0f14' -border 8 -colors 64 "PNG8:docs/img/$name.png"
    echo "wrote docs/img/$name.png"
}

mkdir -p docs/img
for scene in 1 2 3; do
    for who in alice bob; do
        [ -f "$shots/$scene-$who.txt" ] || continue
        panel "$work/$scene-$who.png" "$who: $client_cmd" 74 21 "$shots/$scene-$who.txt"
    done
    panel "$work/$scene-server.png" "hub: $server_cmd" 112 44 "$shots/$scene-server.txt"
done
shot 1-login "$work/1-alice.png" "$work/1-bob.png" -- "$work/1-server.png"
shot 2-chat-trace "$work/2-alice.png" "$work/2-bob.png" -- "$work/2-server.png"
shot 3-expired "$work/3-alice.png" -- "$work/3-server.png"
# The text of every screen, next to its picture.
for scene in 1-login:1 2-chat-trace:2 3-expired:3; do
    name=${scene%:*} n=${scene#*:}
    for part in alice bob server; do
        [ -f "$shots/$n-$part.txt" ] || continue
        echo "# $part"
        cat "$shots/$n-$part.txt"
        echo
    done >"docs/img/$name.txt"
done
