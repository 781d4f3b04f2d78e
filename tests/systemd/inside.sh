#!/bin/bash
# Runs inside the booted Debian 12 container (scripts/systemd-ci.sh): installs the package and checks
# the units under a real systemd. /mnt/ci holds the package, the config and the emulator's CA.
set -uo pipefail
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
mainpid() { systemctl show -p MainPID --value dbxcredd.service; }
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }

systemctl is-system-running --wait >/dev/null 2>&1 || true
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq /mnt/ci/dbxcred.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
check "installed: user dbxcred, /var/lib/dbxcred 0700" \
  test "$(stat -c '%U %a' /var/lib/dbxcred)" = "dbxcred 700"
check "no config: nothing failed" test -z "$(systemctl --failed --no-legend --plain)"
check "no config: socket enabled, not started" \
  test "$(systemctl is-enabled dbxcredd.socket)/$(systemctl is-active dbxcredd.socket)" = enabled/inactive
check "logrotate snippet: /etc/logrotate.d/dbxcred, a conffile, parses" bash -c \
  'dpkg-query -W -f="\${Conffiles}" dbxcred | grep -q " /etc/logrotate.d/dbxcred " &&
   logrotate -d /etc/logrotate.d/dbxcred >/tmp/logrotate-d.txt 2>&1 && ! grep -qi error /tmp/logrotate-d.txt'
check "bash completion installed and loads" bash -c \
  'source /usr/share/bash-completion/completions/dbxcred && complete -p dbxcred | grep -q "_dbxcred dbxcred"'

useradd -m alice && usermod -aG dbxcred alice
useradd -m bob
# The README's install steps (the config, the secret root's, handed over by LoadCredential=).
install -m 0640 -g dbxcred /mnt/ci/config.json /etc/dbxcred/config.json
install -m 0600 /dev/stdin /etc/dbxcred/ci-sp.secret </mnt/ci/ci-sp.secret
install -m 0644 /mnt/ci/ca.pem /etc/dbxcred/ca.pem
mkdir -p /etc/systemd/system/dbxcredd.service.d /etc/systemd/system/dbxcredd-metadata-service.socket.d
printf '[Service]\nLoadCredential=ci-sp.secret:/etc/dbxcred/ci-sp.secret\n' \
  >/etc/systemd/system/dbxcredd.service.d/credentials.conf
check "dbxcredd --check-config (as root, the README's step)" bash -c 'dbxcredd --check-config >/dev/null'
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$(cat /mnt/ci/md_port)" \
  >/etc/systemd/system/dbxcredd-metadata-service.socket.d/port.conf
systemctl daemon-reload
# The README's step after writing the config: the postinst enables and starts the loopback socket
# unit of each listener the config has (issue 21 part 5), and starts dbxcredd.socket.
check "no config yet: the metadata-service socket unit is not enabled" \
  test "$(systemctl is-enabled dbxcredd-metadata-service.socket)" = disabled
dpkg-reconfigure dbxcred >/tmp/reconfigure.log 2>&1
check "dpkg-reconfigure: metadata-service socket unit enabled and listening ($(tr '\n' ' ' </tmp/reconfigure.log))" \
  test "$(systemctl is-enabled dbxcredd-metadata-service.socket)/$(systemctl is-active dbxcredd-metadata-service.socket)" = enabled/active
check "dpkg-reconfigure: dbxcredd.socket active, the managed-identity unit (not configured) not enabled" \
  test "$(systemctl is-active dbxcredd.socket)/$(systemctl is-enabled dbxcredd-managed-identity.socket)" = active/disabled
check "socket activation: service not started before a connection" \
  test "$(systemctl is-active dbxcredd.service)" = inactive

pat=$(as alice dbxcred pat); rc=$?
check "a member of dbxcred gets a PAT" test "$rc" = 0 -a "${pat:0:4}" = dapi
as bob dbxcred pat >/dev/null 2>/tmp/bob.err; rc=$?
check "a non-member is refused (exit 3): $(cat /tmp/bob.err)" test "$rc" = 3
pid=$(mainpid)
check "service runs as dbxcred" test "$(stat -c %U /proc/"$pid")" = dbxcred
check "no capabilities (CapPrm/CapEff/CapBnd/CapAmb 0)" test -z "$(grep -E '^Cap(Prm|Eff|Bnd|Amb):' /proc/"$pid"/status | grep -v '0000000000000000')"
check "LogsDirectory: /var/log/dbxcred dbxcred:dbxcred 0750" \
  test "$(stat -c '%U:%G %a' /var/log/dbxcred)" = "dbxcred:dbxcred 750"
sleep 1.5  # audit records are written out every second
check "audit.path: audit.jsonl 0600 dbxcred, alice's PAT recorded" bash -c \
  'test "$(stat -c "%U %a" /var/log/dbxcred/audit.jsonl)" = "dbxcred 600" &&
   grep "\"uid\":$(id -u alice)," /var/log/dbxcred/audit.jsonl | grep -q "\"served\""'

# Completion as alice would press TAB: commands, and the workspace names the daemon lets her use.
cat >/tmp/complete.sh <<'EOF'
source /usr/share/bash-completion/bash_completion
source /usr/share/bash-completion/completions/dbxcred
tab() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        COMPREPLY=(); _dbxcred; echo "${COMPREPLY[*]}"; }
tab dbxcred p
tab dbxcred -w ""
tab dbxcred -w prod h
EOF
check "bash completion: 'dbxcred p' → pat, 'dbxcred -w ' → prod, 'dbxcred -w prod h' → headers" \
  test "$(runuser -u alice -- bash /tmp/complete.sh 2>&1 | tr '\n' /)" = "pat/prod/headers/"

# Reload: a new workspace in the same process; a broken config keeps it serving.
# "second": the same emulator under another name (https://localhost:N), so another workspace.
second=$(sed 's/127\.0\.0\.1/localhost/' /mnt/ci/host)
sed 's|"workspaces": {|"workspaces": { "second": { "credential": "ci-sp", "host": "'"$second"'" },|' \
  /mnt/ci/config.json >/etc/dbxcred/config.json
check "systemctl reload" systemctl reload dbxcredd.service
check "reload: same MainPID" test "$(mainpid)" = "$pid"
check "reload: new workspace served" bash -c 'runuser -u alice -- dbxcred workspaces | grep -q "^second "'
echo '{ "workspaces": ' >/etc/dbxcred/config.json
systemctl reload dbxcredd.service
check "broken config: still active, same pid" test "$(systemctl is-active dbxcredd.service)/$(mainpid)" = "active/$pid"
check "broken config: still serving" bash -c 'runuser -u alice -- dbxcred -w prod pat >/dev/null'
install -m 0640 -g dbxcred /mnt/ci/config.json /etc/dbxcred/config.json
systemctl reload dbxcredd.service

# The loopback endpoint on the port systemd holds.
env_json=$(as alice dbxcred env --sdk --shell json)
url=$(printf '%s' "$env_json" | sed -n 's/.*"DATABRICKS_METADATA_SERVICE_URL": *"\([^"]*\)".*/\1/p')
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Databricks-Metadata-Version: 1' \
  -H "X-Databricks-Host: $(cat /mnt/ci/host)" "$url")
check "metadata service on the systemd-held port answers 200" test "$code" = 200
check "the socket passed by systemd is the one served" \
  bash -c 'journalctl -u dbxcredd.service -o cat | grep -q "using the socket passed by systemd"'
md_get() { curl -s -o /dev/null -w '%{http_code}' -H 'X-Databricks-Metadata-Version: 1' \
  -H "X-Databricks-Host: $(cat /mnt/ci/host)" "$1"; }

# The CLI believes the daemon of the service user (root asks: uid from /etc/passwd), and only root
# and the service user may rotate the loopback secrets; the old URL is dead at once.
as alice dbxcred rotate-secrets >/dev/null 2>/tmp/rotate.err; rc=$?
check "rotate-secrets as alice: refused (exit 4): $(cat /tmp/rotate.err)" test "$rc" = 4
check "rotate-secrets as root (the daemon runs as dbxcred)" bash -c 'dbxcred rotate-secrets >/dev/null'
new_url=$(as alice dbxcred env --sdk --shell json | sed -n 's/.*"DATABRICKS_METADATA_SERVICE_URL": *"\([^"]*\)".*/\1/p')
check "rotate-secrets: the old URL is a 404 at once, the new one 200" \
  test "$(md_get "$url")/$(md_get "$new_url")/$([ "$url" != "$new_url" ] && echo new)" = 404/200/new

# systemctl restart: the metadata-service port stays held by systemd all through it, so bob can
# never bind it (and collect an SDK's poll with its secret).
pid=$(mainpid)
as bob perl -MSocket -e '
  my ($port, $secs) = @ARGV; my $end = time + $secs; my ($won, $tries) = (0, 0);
  while (time < $end) {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    $tries++; $won++ if bind($s, pack_sockaddr_in($port, inet_aton("127.0.0.1")));
    close $s;
  }
  print $won ? "bound $won of $tries" : "held ($tries binds refused)";' "$(cat /mnt/ci/md_port)" 4 \
  >/tmp/bob-bind.txt 2>&1 &
bind_pid=$!
sleep 0.5
systemctl restart dbxcredd.service
wait "$bind_pid"
check "restart: a new daemon ($(mainpid) after $pid) serves the metadata service" \
  test "$(mainpid)" != "$pid" -a "$(md_get "$new_url")" = 200
check "restart: bob could not bind the metadata-service port at any moment: $(cat /tmp/bob-bind.txt)" \
  bash -c '[[ "$(cat /tmp/bob-bind.txt)" == held* ]]'
pid=$(mainpid)

# The socket directory rule under systemd: RuntimeDirectory= passes even group-writable; the same
# mode on a directory made by hand is refused, naming it and its mode.
rt_config() {  # $1: socket dir; a daemon beside the packaged one (no listeners, no audit file)
  sed -e '/"listen"/d' -e '/"audit"/d' \
    -e 's|"log": { "level": "debug" },|"log": { "level": "debug" }, "socket": { "path": "'"$1"'/dbxcred.sock", "mode": "0660", "group": "dbxcred" }, "state_dir": "/var/lib/dbxcred-rt",|' \
    /mnt/ci/config.json | install -m 0640 -g dbxcred /dev/stdin /etc/dbxcred/rt.json
}
rt_run() {  # extra systemd-run options
  systemd-run --quiet --unit=dbxcred-rt -p User=dbxcred -p Group=dbxcred \
    -p LoadCredential=ci-sp.secret:/etc/dbxcred/ci-sp.secret -p StateDirectory=dbxcred-rt \
    -p StateDirectoryMode=0700 "$@" /usr/sbin/dbxcredd --config /etc/dbxcred/rt.json
}
rt_config /run/dbxcred-rt
rt_run -p RuntimeDirectory=dbxcred-rt -p RuntimeDirectoryMode=0770
for _ in $(seq 50); do [ -S /run/dbxcred-rt/dbxcred.sock ] && break; sleep 0.1; done
check "RuntimeDirectory= (0770): the daemon serves from it ($(stat -c %a /run/dbxcred-rt 2>&1))" \
  bash -c 'runuser -u alice -- dbxcred --socket /run/dbxcred-rt/dbxcred.sock workspaces | grep -q "^prod "'
systemctl stop dbxcred-rt 2>/dev/null
install -d -m 0770 -o dbxcred -g dbxcred /run/dbxcred-loose
rt_config /run/dbxcred-loose
rt_run --wait >/dev/null 2>&1; rc=$?
loose=$(journalctl -u dbxcred-rt -o cat | grep -F /run/dbxcred-loose | tail -1)
check "a group-writable directory made by hand is refused (exit $rc): $loose" \
  bash -c '[ "$1" != 0 ] && [[ "$2" == *"/run/dbxcred-loose is group-writable (mode 0770)"* ]]' _ "$rc" "$loose"
systemctl reset-failed dbxcred-rt 2>/dev/null
rm -rf /run/dbxcred-loose /etc/dbxcred/rt.json

# kill -9: restarted by systemd.
kill -9 "$pid"
for _ in $(seq 50); do np=$(mainpid); [ "$np" != 0 ] && [ "$np" != "$pid" ] && break; sleep 0.2; done
check "kill -9: restarted" test "$(mainpid)" != 0 -a "$(mainpid)" != "$pid"
check "kill -9: serving again" bash -c 'runuser -u alice -- dbxcred pat >/dev/null'

# stop: exit 0, the ports stay held, the next connection starts it again.
check "systemctl stop exits 0" systemctl stop dbxcredd.service
check "stop: the daemon exited 0" test "$(systemctl show -p ExecMainStatus --value dbxcredd.service)" = 0
check "stop: loopback port still held by systemd" test "$(systemctl is-active dbxcredd-metadata-service.socket)" = active
echo stopped >/mnt/ci/out/stopped
for _ in $(seq 100); do [ -e /mnt/ci/out/bind-checked ] && break; sleep 0.1; done
check "stopped: the host cannot bind 127.0.0.1:$(cat /mnt/ci/md_port) ($(cat /mnt/ci/out/bind-checked 2>/dev/null))" \
  test "$(cat /mnt/ci/out/bind-checked 2>/dev/null)" = held
check "next connection starts it again" bash -c 'runuser -u alice -- dbxcred pat >/dev/null'
check "started again" test "$(systemctl is-active dbxcredd.service)" = active

# Nothing secret in the journal at debug level.
journalctl -u dbxcredd.service -o cat >/tmp/journal.txt
secret=$(cat /mnt/ci/ci-sp.secret)
md_secret=$(printf '%s' "$url" | cut -d/ -f4)
new_md_secret=$(printf '%s' "$new_url" | cut -d/ -f4)
leaked=0
for s in "$pat" "$secret" "$md_secret" "$new_md_secret"; do [ -n "$s" ] && grep -qF -- "$s" /tmp/journal.txt && leaked=1; done
check "journal at debug: no PAT, client secret or loopback secret ($(wc -l </tmp/journal.txt) lines)" test "$leaked" = 0
check "journal at debug has debug lines" grep -qi debug /tmp/journal.txt
# For the host to show on failure, with every known secret replaced.
journalctl -u 'dbxcredd*' -o short-precise --no-pager | tail -80 |
  sed -e "s|${pat:-@@}|<pat>|g" -e "s|${secret:-@@}|<secret>|g" -e "s|${md_secret:-@@}|<md-secret>|g" \
    -e "s|${new_md_secret:-@@}|<md-secret>|g" \
  >/mnt/ci/out/journal.txt

score=$(systemd-analyze security dbxcredd.service 2>/dev/null | sed -n 's/.*Overall exposure level for dbxcredd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security: $score <= 1.2" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.2) }'

# logrotate's postrotate HUPs the daemon, which reopens audit.path: the next record is in a new file.
check "logrotate -f: rotated, the daemon reopens audit.jsonl (same pid)" bash -c '
  p=$(systemctl show -p MainPID --value dbxcredd.service)
  logrotate -f /etc/logrotate.d/dbxcred && test -e /var/log/dbxcred/audit.jsonl.1 &&
  for _ in $(seq 50); do test -e /var/log/dbxcred/audit.jsonl && break; sleep 0.1; done &&
  runuser -u alice -- dbxcred pat >/dev/null && sleep 1.5 &&
  grep -q "\"served\"" /var/log/dbxcred/audit.jsonl &&
  test "$(stat -c "%U %a" /var/log/dbxcred/audit.jsonl)/$(systemctl show -p MainPID --value dbxcredd.service)" = "dbxcred 600/$p"'

# allow.executables under the shipped unit and with the drop-in of systemd/README.md.
exe_config() {  # $1: the executables list of prod
  sed 's|"workspaces": { "prod": {|"workspaces": { "prod": { "allow": { "users": ["alice"], "executables": '"$1"' },|' \
    /mnt/ci/config.json >/etc/dbxcred/config.json
}
exe_try() {  # exit code and stderr of alice's `dbxcred pat`
  runuser -u alice -- dbxcred -w prod pat >/dev/null 2>/tmp/exe.err
  echo "$? $(cat /tmp/exe.err)"
}
exe_config '["/usr/bin/dbxcred"]'
systemctl reload dbxcredd.service
r=$(exe_try)
check "executables, shipped unit (ProtectProc=invisible): refused, says why: ${r#* }" \
  bash -c '[[ "$1" == "4 "*"cannot see /proc/"*ProtectProc* ]]' _ "$r"
dropin=/etc/systemd/system/dbxcredd.service.d/executables.conf
printf '[Service]\nProtectProc=default\n' >"$dropin"
systemctl daemon-reload && systemctl restart dbxcredd.service
r=$(exe_try)
check "executables, ProtectProc=default without CAP_SYS_PTRACE: refused: ${r#* }" \
  bash -c '[[ "$1" == "4 "*"not permitted to read the executable"* ]]' _ "$r"
printf '[Service]\nProtectProc=ptraceable\nCapabilityBoundingSet=CAP_SYS_PTRACE\nAmbientCapabilities=CAP_SYS_PTRACE\n' >"$dropin"
systemctl daemon-reload && systemctl restart dbxcredd.service
r=$(exe_try)
check "executables, with the drop-in: /usr/bin/dbxcred is served" test "${r%% *}" = 0
sleep 1.5
check "executables: the audit record names /usr/bin/dbxcred" \
  bash -c 'tail -1 /var/log/dbxcred/audit.jsonl | grep -q "\"exe\":\"/usr/bin/dbxcred\""'
exe_config '["/usr/bin/true"]'
systemctl reload dbxcredd.service
r=$(exe_try)
check "executables, with the drop-in: another program is refused: ${r#* }" \
  bash -c '[[ "$1" == "4 "*"not in allow.executables"* ]]' _ "$r"
dscore=$(systemd-analyze security dbxcredd.service 2>/dev/null | sed -n 's/.*Overall exposure level for dbxcredd.service: \([0-9.]*\).*/\1/p')
echo "info systemd-analyze security with the executables drop-in: $dscore"
rm -f "$dropin"
install -m 0640 -g dbxcred /mnt/ci/config.json /etc/dbxcred/config.json
systemctl daemon-reload && systemctl restart dbxcredd.service

# An admin's `systemctl disable` of a loopback unit survives a reconfigure (and so an upgrade),
# with one line saying what that leaves open; enabling it again is the admin's call.
systemctl disable --now dbxcredd-metadata-service.socket >/dev/null 2>&1
dpkg-reconfigure dbxcred >/tmp/reconfigure.log 2>&1
check "reconfigure after the admin's disable: stays disabled, says so ($(tr '\n' ' ' </tmp/reconfigure.log))" \
  bash -c 'test "$(systemctl is-enabled dbxcredd-metadata-service.socket)" = disabled &&
           grep -q "dbxcredd-metadata-service.socket is disabled" /tmp/reconfigure.log'
systemctl enable --now dbxcredd-metadata-service.socket >/dev/null 2>&1

# remove stops the daemon; purge removes /var/lib/dbxcred.
apt-get remove -y -qq dbxcred >/dev/null 2>&1
check "remove: daemon stopped, port released" bash -c '! pgrep -x dbxcredd >/dev/null && ! systemctl is-active -q dbxcredd-metadata-service.socket'
apt-get purge -y -qq dbxcred >/dev/null 2>&1
check "purge: /var/lib/dbxcred, /var/log/dbxcred, /etc/logrotate.d/dbxcred removed" \
  test ! -e /var/lib/dbxcred -a ! -e /var/log/dbxcred -a ! -e /etc/logrotate.d/dbxcred
check "after purge: nothing failed" test -z "$(systemctl --failed --no-legend --plain)"
echo "inside: $fails failure(s)"
exit $((fails > 0))
