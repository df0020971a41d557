#!/bin/sh
# Starts (or stops) a single-node Slurm on this machine for the sweep's Slurm
# round trip (docs/experiments.md): munged, slurmctld and slurmd as root, with a
# generated slurm.conf naming this host and its cores, all state under DIR.
#   tools/slurm-single-node.sh start DIR   # then: export SLURM_CONF=DIR/slurm.conf
#   tools/slurm-single-node.sh stop DIR
# Needs Debian's slurm-wlm and munge (tools/setup.sh installs them).
# Ports: STOQ_SLURM_PORT (default 16817) for slurmctld and the next for slurmd,
# away from a system Slurm's 6817/6818.
set -eu
port=${STOQ_SLURM_PORT:-16817}
action=${1:?start or stop}
dir=${2:?state directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$action" in
start)
    host=$(hostname -s)
    cores=$(nproc)
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=stoqsim
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cores State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # munged with its own socket and pid file, so a system munged is left alone.
    munged --force --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf"
    # Ready when the node accepts work.
    for _ in $(seq 1 60); do
        if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then echo "slurm is up: export SLURM_CONF=$dir/slurm.conf"; exit 0; fi
        sleep 0.5
    done
    echo "slurm did not come up; see $dir/*.log" >&2
    exit 1
    ;;
stop)
    # Only the daemons this script started (by their pid files); SIGKILL after 5 s.
    for file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$file" ] || continue
        pid=$(cat "$file")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
