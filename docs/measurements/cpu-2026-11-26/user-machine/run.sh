#!/bin/bash
# A user's machine: a fresh clone with no ../shared/data beside it, GitHub unresolvable.
# A: `make run` with no mirror -> says which datasets are missing and how to place them.
# B: `make run` with a mirror on loopback -> fetches, builds the quick zoo, serves; a client calls it.
set -u
U=/tmp/user7; LOG=$U/log; mkdir -p $LOG
rm -rf $U/attentive $U/mirror ~/.cache/attentive
git clone -q /work/main $U/attentive && cd $U/attentive && git log --oneline -1 | tee $LOG/commit.txt
test -e ../shared/data && { echo "../shared/data exists"; exit 1; }
python3 -c "import socket; socket.getaddrinfo('raw.githubusercontent.com', 443)" 2>&1 | tail -1 | tee $LOG/dns.txt
export ATTENTIVE_ACCEPT_LICENCES=all
start=$(date +%s)
make run > $LOG/A-make-run-offline.log 2>&1; echo "rc=$? after $(( $(date +%s) - start )) s" | tee -a $LOG/A-make-run-offline.log
# the mirror: upstream files rebuilt from the shared copy (what `attentive data mirror` writes)
/work/main/.venv/bin/python -c "
import sys; sys.path.insert(0, '/work/main')
from pathlib import Path
from tests.datasets.upstream import write_mirror
print('lacking:', write_mirror(Path('/work/shared/data'), Path('$U/mirror')))" | tee $LOG/mirror.txt
python3 -m http.server -b 127.0.0.1 -d $U/mirror 18780 > /dev/null 2>&1 & MIRROR=$!
export ATTENTIVE_DATA_MIRRORS=http://127.0.0.1:18780
start=$(date +%s)
setsid make run > $LOG/B-make-run-mirror.log 2>&1 & RUN=$!
for i in $(seq 1 2400); do
  if .venv/bin/attentive health --server localhost:8001 --timeout 2 > /dev/null 2>&1; then break; fi
  kill -0 $RUN 2>/dev/null || break; sleep 1
done
echo "serving after $(( $(date +%s) - start )) s" | tee $LOG/B-serving.txt
.venv/bin/attentive health --server localhost:8001 --timeout 5 2>&1 | tee -a $LOG/B-serving.txt
.venv/bin/attentive infer transformer --server localhost:8001 --text "A man is riding a bike." 2>&1 | head -20 | tee $LOG/B-infer.txt
.venv/bin/attentive infer gat --server localhost:8001 --example 2>&1 | head -12 | tee -a $LOG/B-infer.txt
.venv/bin/attentive taxonomy list --server localhost:8001 --sequences co-attention --positions local --any 2>&1 | head -40 | tee $LOG/B-taxonomy.txt
.venv/bin/attentive data list 2>&1 | tee $LOG/B-data-list.txt
.venv/bin/attentive data check 2>&1 | tee $LOG/B-data-check.txt
kill -- -$RUN 2>/dev/null; kill $MIRROR; wait
echo done | tee $LOG/done.txt
