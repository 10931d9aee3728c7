# infra/images/podman-env.sh: sourced by infra/images/build and tests/containers/run; points podman at a containers.conf that works here.
# usage: cleave_podman_env STATE_DIR   (writes STATE_DIR/containers.conf, exports CONTAINERS_CONF
#        and sets CLEAVE_PODMAN_ULIMITS, the same limits as --ulimit options for podman build,
#        whose RUN steps do not read default_ulimits)
#
# Why: Debian 12's podman 4.3 defaults to crun, which fails on hybrid cgroup hierarchies (runc
# works); its default ulimits (nofile 1048576) exceed many machines' hard limits, and then no
# container starts; without systemd there is no systemd cgroup manager nor journald. The limits
# are read from this shell's hard limits at run time, never hard-coded. Nothing under /etc is
# touched: CONTAINERS_CONF applies to the podman commands of this process and its children.

cleave_podman_env() {
	local state=$1 nofile nproc ulimits=() conf
	mkdir -p "$state"
	conf="$state/containers.conf"
	nofile=$(ulimit -H -n)
	nproc=$(ulimit -H -u)
	# podman's own processes (conmon, runc) run with RLIMIT_NPROC lowered to the kernel's
	# pid_max (32768 on many machines), and runc cannot raise it back: stay at or below both
	local pid_max
	pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo unlimited)
	if [ "$pid_max" != unlimited ] && { [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; }; then
		nproc=$pid_max
	fi
	CLEAVE_PODMAN_ULIMITS=()
	if [ "$nofile" != unlimited ]; then
		ulimits+=("\"nofile=$nofile:$nofile\"")
		CLEAVE_PODMAN_ULIMITS+=(--ulimit "nofile=$nofile:$nofile")
	fi
	if [ "$nproc" != unlimited ]; then
		ulimits+=("\"nproc=$nproc:$nproc\"")
		CLEAVE_PODMAN_ULIMITS+=(--ulimit "nproc=$nproc:$nproc")
	fi
	{
		echo "# written by infra/images/podman-env.sh; read through CONTAINERS_CONF"
		echo "[containers]"
		echo "default_ulimits = [$(IFS=,; echo "${ulimits[*]}")]"
		echo 'log_driver = "k8s-file"'
		echo "[network]"
		echo 'network_backend = "netavark"'
		echo "[engine]"
		echo 'runtime = "runc"'
		if [ -d /run/systemd/system ]; then
			echo 'cgroup_manager = "systemd"'
			echo 'events_logger = "journald"'
		else
			echo 'cgroup_manager = "cgroupfs"'
			echo 'events_logger = "file"'
		fi
	} >"$conf.tmp"
	mv "$conf.tmp" "$conf"
	export CONTAINERS_CONF="$conf"
}
