#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the tests: `cluster.sh start DIR` writes DIR/slurm.conf,
# starts munged (if none runs), slurmctld and slurmd, and waits until the node is idle;
# `cluster.sh stop DIR` stops what start started. Needs root and Debian's slurm-wlm and munge.
set -euo pipefail
cmd=$1 dir=$2
conf=$dir/slurm.conf
case "$cmd" in
start)
  mkdir -p "$dir/state" "$dir/spool"
  node=$(hostname -s)
  cat > "$conf" <<CONF
ClusterName=lkvit-test
SlurmctldHost=$node
SlurmctldPort=${LKVIT_SLURMCTLD_PORT:-16817}
SlurmdPort=${LKVIT_SLURMD_PORT:-16818}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$node CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$dir/started-munged"
  fi
  SLURM_CONF=$conf slurmctld
  SLURM_CONF=$conf slurmd
  for _ in $(seq 1 60); do
    if SLURM_CONF=$conf sinfo -h -o %T 2>/dev/null | grep -qx idle; then exit 0; fi
    sleep 0.5
  done
  echo "cluster.sh: the node did not become idle in 30 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  exit 1
  ;;
stop)
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$dir/started-munged" ]; then pkill -x munged || true; fi
  ;;
*) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
