#!/bin/sh
# 34-bridgectl-flush.t - bridged's jobs driven by bridgectl and by the
# clock: "bridgectl flush" and "bridgectl bundle" through the control
# socket (answers and exit codes, also when bridged is not running); a
# customer with retry = "2s" is delivered without being asked; the
# bundling timers pack a uucp customer's queue and hand the bundle to
# a uux stand-in (a script that keeps its argv and stdin), and an ssh
# customer's into outbox/<customer>; "bridgectl bundle" does it at once
# for a customer whose bundle-delay is an hour; after a reload that
# removes a customer the others' timers go on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl gzip

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
SAME="python3 $TOP/regress/samemsgs.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
queued() { count "$HUB_SPOOL/q/$1/new"; }
empty() { [ "$(queued "$1")" = 0 ]; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }

SINKPORT=$(free_port)
RETRYPORT=$(free_port)
mkdir -p "$WORK/sink" "$WORK/retry" "$WORK/uux"
chmod 777 "$WORK/sink" "$WORK/retry"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
smtp-sink $SINKUSER -d "$WORK/retry/%M." 127.0.0.1:$RETRYPORT 16 \
    >"$WORK/retry.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT && wait_port $RETRYPORT || { fail "sinks listen"; exit 1; }

# the uux stand-in: keeps argv and the bundle it is given on stdin
cat >"$WORK/uux.sh" <<EOF
#!/bin/sh
n=\$(date +%s%N)
printf '%s\n' "\$*" >"$WORK/uux/\$n.args"
cat >"$WORK/uux/\$n.tmp" && mv "$WORK/uux/\$n.tmp" "$WORK/uux/\$n.bundle"
EOF
chmod 755 "$WORK/uux.sh"

HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$SINKPORT\"}"
hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"rt\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$RETRYPORT\"} retry = \"2s\" }
customer \"farm\" { release = {\"uucp\"} uucp-node = \"farmnode\" uux = {\"$WORK/uux.sh\", \"-I\", \"/nonexistent/config\"} bundle-delay = \"2s\" }
customer \"boat\" { release = {\"ssh\"} bundle-delay = \"2s\" }
customer \"slowboat\" { release = {\"ssh\"} bundle-delay = \"1h\" }
customer \"peerc\" { release = {\"etrn\"} deliver-to = {\"peer\"} }"
printf 'rt.example\trt\nfarm.example\tfarm\nboat.example\tboat\nslowboat.example\tslowboat\npeer.example\tpeerc\n' \
    >>"$HUB_ROUTES"
hub_own "$WORK/uux"

# ---- not running ----
bridgectl -c "$HUB_CONF" flush acme 2>"$WORK/err"
is $? 75 "flush without bridged: exit 75"
grep -q "bridged is not running" "$WORK/err"
ok $? "... and says so"

hub_start || { fail "bridged started"; exit 1; }

# ---- 1. bridgectl flush / bundle / status ----
FILES=$(find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort | sed -n '401,420p')
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$HUB_SPOOL" acme a@acme.example $FILES \
    >/dev/null
out=$(ctl flush acme)
ok $? "bridgectl flush acme: exit 0"
is "$out" "bridgectl: ok flush of acme started" "... flush started"
wait_for 30 empty acme
ok $? "acme's queue emptied"
wait_for 10 has "$WORK/sink" 20
# shellcheck disable=SC2086
$SAME sink "$WORK/sink" $FILES
ok $? "the 20 messages arrived byte for byte"
ctl flush nosuch 2>"$WORK/err"
is $? 67 "flush of an unknown customer: exit 67"
ctl bundle acme 2>"$WORK/err"
is $? 69 "bundle of a customer released by ETRN only: exit 69"
is "$(cat "$WORK/err")" "bridgectl: error acme is not released by uucp or ssh" \
    "... with bridged's reason"
ctl flush peerc 2>"$WORK/err"
is $? 69 "flush of a deliver-to peer customer nobody asked for: exit 69"
out=$(ctl status)
ok $? "bridgectl status: exit 0"
case "$out" in
"bridgectl: ok jobs="*) pass "status line" ;;
*) fail "status line"; diag "$out" ;;
esac
out=$(printf 'frobnicate\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
print(s.recv(512).decode().strip())' "$HUB_SPOOL/control")
case "$out" in
"error unknown request"*) pass "the control socket refuses an unknown request" ;;
*) fail "the control socket refuses an unknown request"; diag "$out" ;;
esac

# ---- 2. retry = "2s": delivered without being asked ----
RFILES=$(find "$CORPUS/spam-1" -type f -name '*.eml' | sort | sed -n '201,205p')
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$HUB_SPOOL" rt r@rt.example $RFILES \
    >/dev/null
wait_for 30 empty rt
ok $? "retry: rt's queue emptied without ETRN"
wait_for 10 has "$WORK/retry" 5
# shellcheck disable=SC2086
$SAME sink "$WORK/retry" $RFILES
ok $? "retry: the 5 messages arrived"
grep -q "rt: flush started, pid" "$HUB_LOG"
ok $? "retry: the periodic flush is logged"

# ---- 3. bundling timers: uucp through the uux stand-in, ssh outbox ----
UFILES=$(find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort | sed -n '21,30p')
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$HUB_SPOOL" farm x@farm.example,y@farm.example \
    $UFILES >/dev/null
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$HUB_SPOOL" boat z@boat.example $UFILES \
    >/dev/null
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$HUB_SPOOL" slowboat z@slowboat.example \
    $UFILES >/dev/null
wait_for 40 has "$WORK/uux" 1 '\.bundle$'
ok $? "uucp: the timer bundled farm's queue and ran uux"
b=$(ls "$WORK"/uux/*.bundle 2>/dev/null | head -1)
a=${b%.bundle}.args
is "$(cat "$a" 2>/dev/null)" \
    "-I /nonexistent/config -r -n -a postmaster@hub.test -g C - farmnode!rgsmtp" \
    "uucp: uux's argv"
gzip -t "$b" 2>/dev/null
ok $? "uucp: a gzip bundle on uux's stdin"
is "$(gzip -dc "$b" | grep -c '^MAIL FROM:')" 20 \
    "uucp: 10 messages x 2 recipients = 20 copies"
is "$(gzip -dc "$b" | grep -c '^X-Envelope-To: ')" 20 \
    "uucp: one X-Envelope-To per copy"
wait_for 10 empty farm
ok $? "uucp: farm's queue is empty"
# (a function: wait_for must count again on every try)
outbox_empty() { [ "$(count "$HUB_SPOOL/outbox/$1")" = 0 ]; }
wait_for 10 outbox_empty farm
ok $? "uucp: the outbox copy is gone once uux took it"
wait_for 40 has "$HUB_SPOOL/outbox/boat" 1
ok $? "ssh: a bundle in outbox/boat"
wait_for 10 empty boat
ok $? "ssh: boat's queue is empty"
is "$(gzip -dc "$HUB_SPOOL"/outbox/boat/* | grep -c '^MAIL FROM:')" 10 \
    "ssh: the bundle holds the 10 messages"
is "$(queued slowboat)" 10 "bundle-delay 1h: slowboat's mail waits"
is "$(count "$HUB_SPOOL/outbox/slowboat")" 0 "... no bundle yet"
out=$(ctl bundle slowboat)
ok $? "bridgectl bundle slowboat: exit 0"
wait_for 20 has "$HUB_SPOOL/outbox/slowboat" 1
ok $? "bridgectl bundle: a bundle at once"
wait_for 10 empty slowboat
ok $? "bridgectl bundle: the queue is empty"

# ---- 4. reload: a customer with timers goes, the rest goes on ----
sed -i '/customer "rt"/d' "$HUB_CONF"
sed -i '/^rt.example/d' "$HUB_ROUTES"
kill -HUP "$HUB_PID"
wait_for 10 grep -q "reloaded: 6 customers" "$HUB_LOG"
ok $? "SIGHUP: reloaded without rt"
ctl flush rt 2>/dev/null
is $? 67 "rt is unknown to the running bridged now"
"$FT" enqueue -f s@example.org "$HUB_SPOOL" boat z@boat.example \
    "$CORPUS/easy-ham-1/00009.eml" >/dev/null
wait_for 40 empty boat
ok $? "the bundling timers still run after the reload"

hub_stop
bridgectl -c "$HUB_CONF" status 2>/dev/null
is $? 75 "status after bridged stopped: exit 75"
