# Sourced by the packaging test: a real systemd, the user manager
# (`systemd --user`), run as root in a private mount namespace, because this
# machine's PID 1 is not systemd.  Call sandbox_start, then systemctl --user,
# then sandbox_stop.  In its namespace /run/systemd/system exists (the check
# systemd makes that it was booted with systemd) and /run/user/0 is a
# tmpfs: nothing outside the namespace sees either.
#
# Relaxed in units run here, with why (docs/packaging.md):
#  - ProtectHome, ProtectKernelTunables, ProtectKernelLogs: a unit with any
#    of them fails with 226/NAMESPACE in this machine's container;
#  - ProtectProc, ProcSubset, ProtectControlGroups: with any of them the
#    user manager's notify socket is not visible to the service, so
#    READY=1 never arrives;
#  - the state directory: a user manager puts StateDirectory= under
#    ~/.local/state, so the system path is opened with ReadWritePaths.
SANDBOX_RELAX='ProtectHome=no
ProtectKernelTunables=no
ProtectKernelLogs=no
ProtectProc=default
ProcSubset=all
ProtectControlGroups=no'

# sandbox_start CONFIG_HOME: the manager, reading units from
# CONFIG_HOME/systemd/user; its pid in SANDBOX_PID.
sandbox_start() {
	export XDG_CONFIG_HOME=$1 XDG_RUNTIME_DIR=/run/user/0
	mkdir -p "$XDG_CONFIG_HOME/systemd/user"
	mount -t tmpfs -o mode=0755 tmpfs /run/systemd || return 1
	mkdir -p /run/systemd/system
	mount -t tmpfs -o mode=0755 tmpfs /run/user || return 1
	# 0711: the service's own user reaches the notify socket, as it
	# reaches /run/systemd/notify under the system manager.
	mkdir -m 0711 /run/user/0
	/lib/systemd/systemd --user >"$XDG_CONFIG_HOME/manager.log" 2>&1 &
	SANDBOX_PID=$!
	local state=
	for _ in $(seq 100); do
		state=$(systemctl --user is-system-running 2>/dev/null) && break
		[ "$state" = degraded ] && break
		sleep 0.1
	done
	[ -S /run/user/0/systemd/notify ] || return 1
	chmod 0711 /run/user/0/systemd
	chmod 0777 /run/user/0/systemd/notify
	echo "systemd $(systemctl --version | head -1 | cut -d' ' -f2) user manager: ${state:-not answering} (pid $SANDBOX_PID)"
}

sandbox_stop() {
	[ -n "${SANDBOX_PID:-}" ] || return 0
	systemctl --user exit 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$SANDBOX_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SANDBOX_PID" 2>/dev/null
	wait "$SANDBOX_PID" 2>/dev/null
	SANDBOX_PID=
	umount /run/user /run/systemd 2>/dev/null
}
