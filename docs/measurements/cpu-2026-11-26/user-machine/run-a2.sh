#!/bin/bash
# A2: a fresh clone, no ../shared/data, GitHub unresolvable, no mirror: `make run` serves what it can.
set -u
U=/tmp/user7b; LOG=/tmp/user7/log2; mkdir -p $LOG
rm -rf $U ~/.cache/attentive; mkdir -p $U
git clone -q /work/main $U/attentive && cd $U/attentive && git log --oneline -1 | tee $LOG/A2-commit.txt
test -e ../shared/data && { echo "../shared/data exists"; exit 1; }
export ATTENTIVE_ACCEPT_LICENCES=all
start=$(date +%s)
setsid make run > $LOG/A2-make-run-offline.log 2>&1 & RUN=$!
for i in $(seq 1 2400); do
  if .venv/bin/attentive health --server localhost:8001 --timeout 2 > /dev/null 2>&1; then break; fi
  kill -0 $RUN 2>/dev/null || break; sleep 1
done
echo "serving after $(( $(date +%s) - start )) s (venv included)" | tee $LOG/A2-serving.txt
.venv/bin/attentive health --server localhost:8001 --timeout 5 2>&1 | tee -a $LOG/A2-serving.txt
.venv/bin/attentive taxonomy list --server localhost:8001 2>&1 | tee $LOG/A2-taxonomy.txt
.venv/bin/attentive infer han --server localhost:8001 --example 2>&1 | head -12 | tee $LOG/A2-infer.txt
kill -- -$RUN 2>/dev/null; wait
echo done > $LOG/done.txt
