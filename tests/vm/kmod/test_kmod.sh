#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# In-guest tests of hypertrace.ko (run by tests/vm/kmod/run.sh through the
# testbed, as root in the guest, cwd = repository root):
#   load/unload, bad ioctls, exact records vs hcgen's ground truth, the nr
#   filter, rmmod refused while the device is held, kvm_amd + kvm reloaded
#   while tracing, summary mode (exact counts, swaps mid-run, a full key
#   table), a full state table and slot take-over, open() needing
#   CAP_PERFMON/CAP_SYS_ADMIN, AGG_TAKE racing mmap (lock order), an
#   ioctl/mmap fuzz pass, --check leaving the module as it found it, a clear
#   failure (nothing left loaded) when kvm is not loaded.  The testbed itself
#   fails the run on Oops/BUG/WARNING.
set -uo pipefail
build=${HT_BUILD_DIR:-$PWD/build}
abi=${HT_TESTBED_ABI:-$(uname -r)}
ko=${HT_KMOD_PATH:-$build/kmod-$abi/hypertrace.ko}
client=$build/tests/vm/kmod/kmod_client
fuzz=$build/tests/vm/kmod/kmod_fuzz
ht=$build/userspace/hypertrace
check=$(dirname "$0")/check_records.py
hcgen=${HT_HCGEN:-}
for h in "$build/tests/workload/hcgen"; do
    [ -z "$hcgen" ] && [ -x "$h" ] && hcgen=$h
done
out=${HT_SCRATCH:?}/kmod
mkdir -p "$out"
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# Run a tool that prints 'N passed, N failed' last; add its counts.
sub() {
    local name=$1; shift
    local log=$out/$name.log
    timeout 300 "$@" >"$log" 2>&1
    local rc=$? line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    sed "s/^/  [$name] /" "$log"
    if [ -n "$line" ]; then
        passed=$((passed + ${line%% passed*}))
        line=${line#*, }
        failed=$((failed + ${line%% failed*}))
    fi
    [ $rc -eq 0 ] || bad "$name: exit $rc"
}
record() { # name [client opts] -- cmd...
    local name=$1; shift
    timeout 300 "$client" record "$out/$name.jsonl" "$@" 2>"$out/$name.err"
    local rc=$?
    sed "s/^/  [$name] /" "$out/$name.err"
    [ $rc -eq 0 ] && ok "$name: traced" || bad "$name: kmod_client exit $rc"
}

echo "kernel $(uname -r), module $ko, hcgen $hcgen"
[ -x "$client" ] && [ -x "$fuzz" ] && [ -x "$ht" ] && [ -f "$ko" ] && [ -x "$hcgen" ] || { bad "missing inputs"; echo "$passed passed, $failed failed"; exit 1; }

insmod "$ko" && ok "insmod" || bad "insmod"
[ -c /dev/hypertrace ] && [ "$(stat -c %a /dev/hypertrace)" = 600 ] &&
    ok "/dev/hypertrace is a 0600 char device" || bad "/dev/hypertrace mode"
grep -q '^kvm .* 1 kvm_amd' /proc/modules && ok "kvm not pinned by hypertrace" ||
    bad "kvm refcount: $(grep '^kvm ' /proc/modules)"

sub badioctl "$client" badioctl

# The prototypes every record below is traced with (BTF, or the module's
# compile-time guess where kvm has no BTF), and the guess proven against BTF.
"$client" detect >"$out/detect.json" 2>"$out/detect.err"
sed "s/^/  [detect] /" "$out/detect.err"
res=$(python3 "$(dirname "$0")/check_protos.py" "$out/detect.json")
read -r exit_proto guess_line <<<"$res"
case $guess_line in
ok\ *) ok "prototypes: ${guess_line#ok }" ;;
*) bad "prototypes: ${guess_line#bad }" ;;
esac

# open() needs CAP_PERFMON or CAP_SYS_ADMIN whatever the device mode says.
open_result() { # prints ok or the errno name of open(/dev/hypertrace, O_RDWR)
    "$@" python3 -c '
import errno, os
try:
    os.close(os.open("/dev/hypertrace", os.O_RDWR)); print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])'
}
chmod 0666 /dev/hypertrace
r=$(open_result setpriv --reuid=65534 --regid=65534 --clear-groups)
[ "$r" = EPERM ] && ok "open as nobody, device mode 0666: EPERM" || bad "open as nobody, mode 0666: $r"
r=$(open_result setpriv --inh-caps=-all --bounding-set=-all)
[ "$r" = EPERM ] && ok "open as root without capabilities: EPERM" || bad "open as root without capabilities: $r"
r=$(open_result setpriv --inh-caps=-all --bounding-set=-all,+perfmon)
[ "$r" = ok ] && ok "open as root with CAP_PERFMON only: allowed" || bad "open with CAP_PERFMON only: $r"
r=$(open_result setpriv --inh-caps=-all --bounding-set=-all,+sys_admin)
[ "$r" = ok ] && ok "open as root with CAP_SYS_ADMIN only: allowed" || bad "open with CAP_SYS_ADMIN only: $r"
chmod 0600 /dev/hypertrace

# Exact ground truth, 2 vCPUs, two numbers, ordinary exits in between.
record sched -- "$hcgen" schedule --vcpus 2 --calls 42x1000,43x500 --noise 1
sub sched-check python3 "$check" "$out/sched.jsonl" "$out/sched.jsonl.truth" --attach-count 1

# The nr filter: only 43.
record nr43 --nr 43 -- "$hcgen" schedule --vcpus 3 --calls 42x300,43x200,44x100 --noise 2 --noise-kind mix
sub nr43-check python3 "$check" "$out/nr43.jsonl" "$out/nr43.jsonl.truth" --nr 43

# Filters: one vCPU, only VMMCALL exits (all of them are), a min latency of 0.
record vcpu1 --vcpu 1 --hypercall-only --min-latency 0 -- "$hcgen" schedule --vcpus 2 --calls 42x200 --noise 1
sub vcpu1-check python3 "$check" "$out/vcpu1.jsonl" "$out/vcpu1.jsonl.truth" --vcpu 1

# Without exit-reason offsets: with kvm_exit(vcpu, isa) (>= 5.16) every record
# says "reason unknown"; with kvm_exit(exit_reason, vcpu, isa) (5.10) the
# reason is the probe's argument and the records keep it.
record noreason --no-reason -- "$hcgen" schedule --vcpus 1 --calls 42x100
if [ "$exit_proto" = 1 ]; then
    sub noreason-check python3 "$check" "$out/noreason.jsonl" "$out/noreason.jsonl.truth"
else
    sub noreason-check python3 "$check" "$out/noreason.jsonl" "$out/noreason.jsonl.truth" --reason-unknown
fi

# A one-page ring nobody reads while the workload runs: it fills, the rest is
# dropped and counted; records wrap across the end of the data area.
# (25 records of 8 + 152 bytes fit in its 4096 bytes.)
record full --ring 4096 --no-read -- "$hcgen" schedule --vcpus 2 --calls 42x300
sub full-check python3 "$check" "$out/full.jsonl" "$out/full.jsonl.truth" --subset --min-records 25

# A one-page ring read while written: many wraps (a slow reader may lose some).
record wrap --ring 4096 -- "$hcgen" schedule --vcpus 2 --calls 42x1000 --noise 1
sub wrap-check python3 "$check" "$out/wrap.jsonl" "$out/wrap.jsonl.truth" --min-records 200 $(
    [ "$(tail -1 "$out/wrap.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"][1])')" = 0 ] || echo --subset)

# rmmod while a reader holds the device is refused.
exec 3<>/dev/hypertrace
if rmmod hypertrace 2>/dev/null; then bad "rmmod while held succeeded"; else ok "rmmod refused while the device is held"; fi
exec 3>&-

# kvm_amd + kvm unloaded and reloaded while tracing: the probes follow.
record reload --pid-any -- sh -c "
    '$hcgen' schedule --vcpus 1 --calls 42x200 --noise 0 > '$out/reload1.json' &&
    rmmod kvm_amd kvm && modprobe kvm_amd &&
    '$hcgen' schedule --vcpus 2 --calls 42x100,43x50 > '$out/reload2.json'"
sub reload-check python3 "$check" "$out/reload.jsonl" "$out/reload1.json" "$out/reload2.json" --attach-count 2
grep -q 'kvm was unloaded and loaded 1 time; the probes followed it' "$out/reload.err" &&
    ok "reload reported at the end of the session" || bad "reload not reported"
# The same through the CLI.
"$ht" -b kmod -d 25 -n 42 >"$out/reload-cli.out" 2>"$out/reload-cli.err" &
htpid=$!
for _ in $(seq 100); do grep -q 'Tracing hypercalls' "$out/reload-cli.err" && break; sleep 0.1; done
"$hcgen" schedule --vcpus 1 --calls 42x20 --no-calls >/dev/null &&
    rmmod kvm_amd kvm && modprobe kvm_amd &&
    "$hcgen" schedule --vcpus 1 --calls 42x30 --no-calls >/dev/null || bad "reload-cli workload"
kill -INT $htpid; wait $htpid; rc=$?
sed "s/^/  [reload-cli] /" "$out/reload-cli.err"
# 20 calls before the reload and 30 after: all 50 traced.
[ $rc -eq 0 ] && grep -q 'kvm was unloaded and loaded 1 time; the probes followed it' "$out/reload-cli.err" &&
    grep -q 'records=50 ' "$out/reload-cli.err" && ok "CLI: kvm reload reported, the 50 calls around it traced" ||
    bad "CLI reload: exit $rc, $(grep totals "$out/reload-cli.err")"

# Summary mode: statistics per (pid, nr) instead of records; exact counts.
record agg --aggregate -- "$hcgen" schedule --vcpus 2 --calls 42x500,43x300,0x10000x100 --noise 1
sub agg-check python3 "$check" "$out/agg.jsonl" "$out/agg.jsonl.truth" --aggregate
# Taken every 30 ms while the workload runs: the sum over the takes is exact.
record aggswap --aggregate --take-every 30 -- "$hcgen" schedule --vcpus 3 --calls 42x1500,43x500 --noise 1
sub aggswap-check python3 "$check" "$out/aggswap.jsonl" "$out/aggswap.jsonl.truth" --aggregate --min-nonempty-takes 3
# With the nr filter.
record aggnr --aggregate --nr 43 -- "$hcgen" schedule --vcpus 2 --calls 42x200,43x100 --noise 0
sub aggnr-check python3 "$check" "$out/aggnr.jsonl" "$out/aggnr.jsonl.truth" --aggregate --nr 43

# AGG_TAKE copying into untouched memory while another thread mmaps the
# ring: the device mutex must never be wanted under mmap_lock.
sub locktest timeout -s KILL 90 "$client" locktest 8 -- "$hcgen" schedule --vcpus 2 --calls 40x5000,41x5000,42x5000,43x5000 --noise 0 --no-calls

# Fuzz: thousands of random ioctls and mmaps (seeded; HT_FUZZ_SEED repeats
# a run) while a VM makes hypercalls, so that probes run under the fuzzed
# configurations.  Every call must return success or a documented errno.
"$hcgen" schedule --vcpus 2 --calls 0x2ax50000,7x50000,0x10000x50000 --noise 1 --no-calls --timeout 120 >/dev/null 2>&1 &
hcpid=$!
sub fuzz "$fuzz" --calls 20000 --seconds 40 ${HT_FUZZ_SEED:+--seed "$HT_FUZZ_SEED"}
kill $hcpid 2>/dev/null; wait $hcpid 2>/dev/null

rmmod hypertrace && ok "rmmod" || bad "rmmod"

# --check loads the module to try it and unloads it again, but only if it
# was the one that loaded it.
HT_KMOD_PATH=$ko "$ht" --check >"$out/check1.out" 2>&1; rc=$?
sed "s/^/  [check1] /" "$out/check1.out"
[ $rc -eq 0 ] && grep -q '^kernel module: works' "$out/check1.out" && ! grep -q '^hypertrace ' /proc/modules &&
    ok "--check: kmod works, module unloaded again" || bad "--check (module not loaded before): exit $rc, $(grep '^hypertrace ' /proc/modules)"
insmod "$ko"
HT_KMOD_PATH=$ko "$ht" --check >"$out/check2.out" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q '^hypertrace ' /proc/modules &&
    ok "--check: a module loaded before stays loaded" || bad "--check (module loaded before): exit $rc"
rmmod hypertrace

# kvm not loaded: a clear error, exit 1, nothing left loaded (auto too).
rmmod kvm_amd kvm
for b in kmod auto; do
    HT_KMOD_PATH=$ko "$ht" -b $b -d 1 >"$out/nokvm-$b.out" 2>"$out/nokvm-$b.err"; rc=$?
    sed "s/^/  [nokvm-$b] /" "$out/nokvm-$b.err"
    [ $rc -eq 1 ] && grep -q 'kvm tracepoints kvm_exit/kvm_hypercall/kvm_entry do not exist.*modprobe kvm_intel or kvm_amd' "$out/nokvm-$b.err" &&
        ! grep -q '^hypertrace ' /proc/modules && [ ! -e /dev/hypertrace ] &&
        ok "-b $b without kvm: exit 1, clear message, module unloaded" ||
        bad "-b $b without kvm: exit $rc, modules: $(grep '^hypertrace ' /proc/modules)"
done
modprobe kvm_amd || bad "modprobe kvm_amd"

# A key table of 2: the third key finds no room, its calls are counted dropped.
for v in 0 3 32768; do
    if insmod "$ko" agg_keys=$v 2>/dev/null; then
        bad "agg_keys=$v accepted"; rmmod hypertrace
    else
        ok "agg_keys=$v refused"
    fi
done
insmod "$ko" agg_keys=2 && ok "insmod agg_keys=2" || bad "insmod agg_keys=2"
record aggfull --aggregate -- "$hcgen" schedule --vcpus 1 --calls 42x100,43x100,44x100 --noise 0
sub aggfull-check python3 "$check" "$out/aggfull.jsonl" "$out/aggfull.jsonl.truth" --aggregate --agg-full
rmmod hypertrace && ok "rmmod (agg_keys=2)" || bad "rmmod (agg_keys=2)"

# A full key table costs a new key no more than an empty one: the probe
# sequence is bounded (8 slots), not a scan of all agg_keys slots from
# kvm_entry with interrupts off.  3000 calls of 3000 distinct numbers with
# the table empty, then 17 VMs of 1000 keys each (17000 > 16384), then 3000
# calls of 3000 new numbers, most of which find no room.  Before the bound
# every key without room walked the whole table (one key of no room: 9.2 s
# against 1.1 s on 6.1); now about the same.  Numbers from 0x10000: ones KVM
# does not implement.  (One key alone cannot prove a full table: with 8-slot
# windows a table holds about 90% of agg_keys and a new key may still find
# a free slot in its window.)
insmod "$ko" agg_keys=16384 && ok "insmod agg_keys=16384" || bad "insmod agg_keys=16384"
fill_spec=$(seq -s, 65536 66535 | sed 's/,/x1,/g; s/$/x1/')
record aggbound --aggregate --pid-any -- bash -c '
    t() { local t0=$(date +%s%N); "$@" >/dev/null || exit 1; echo $(( ($(date +%s%N) - t0) / 1000000 )); }
    echo "empty_ms $(t '"'$hcgen'"' schedule --vcpus 1 --calls 131072-134071x1 --noise 0 --no-calls)" >&2
    for r in $(seq 17); do '"'$hcgen'"' schedule --vcpus 1 --calls '"$fill_spec"' --noise 0 --no-calls >/dev/null || exit 1; done
    echo "full_ms $(t '"'$hcgen'"' schedule --vcpus 1 --calls 196608-199607x1 --noise 0 --no-calls)" >&2'
e=$(sed -n 's/^empty_ms //p' "$out/aggbound.err"); f=$(sed -n 's/^full_ms //p' "$out/aggbound.err")
# Most of the last run's keys found no room: their calls were dropped, or
# sent as records, not added (proof that the table was full for them).
noroom=$(python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
c = lines[-1]["counters"]
recs = sum(1 for l in lines if "agg" not in l and 196608 <= l.get("nr", -1) <= 199607)
print(c[1] + recs)' "$out/aggbound.jsonl")
[ -n "$e" ] && [ -n "$f" ] && [ "$noroom" -ge 1000 ] && [ "$f" -lt $((3 * e + 500)) ] &&
    ok "full key table: 3000 new keys took ${f} ms (${noroom} found no room), ${e} ms with the table empty" ||
    bad "full key table: ${f:-?} ms vs ${e:-?} ms empty (limit 3x + 500 ms), no room for ${noroom:-?} calls"
rmmod hypertrace && ok "rmmod (agg_keys=16384)" || bad "rmmod (agg_keys=16384)"

# A state table of 8 slots (one window) and 16 vCPU threads: the first 8
# threads get a slot and are traced exactly; the others get none (no_state,
# their hypercalls unmatched): every call is counted.
if insmod "$ko" state_table_bits=17 2>/dev/null; then
    bad "state_table_bits=17 accepted"; rmmod hypertrace
else
    ok "state_table_bits=17 refused"
fi
insmod "$ko" state_table_bits=0 && ok "insmod state_table_bits=0" || bad "insmod state_table_bits=0"
record evict -- "$hcgen" schedule --vcpus 16 --calls 42x60 --noise 1
sub evict-check python3 "$check" "$out/evict.jsonl" "$out/evict.jsonl.truth" --evicting --slots 8
rmmod hypertrace && ok "rmmod (small table)" || bad "rmmod (small table)"

# Take-over: 8 slots, idle after 100 ms.  A VM of 8 vCPUs fills the table and
# ends; a second one, 0.5 s later, takes the 8 idle slots over (evicted) and
# both are traced exactly.
insmod "$ko" state_table_bits=0 state_steal_after_ms=100 &&
    ok "insmod state_table_bits=0 state_steal_after_ms=100" || bad "insmod (steal)"
record steal --pid-any -- sh -c "
    '$hcgen' schedule --vcpus 8 --calls 42x40 --noise 1 > '$out/steal1.json' &&
    sleep 0.5 &&
    '$hcgen' schedule --vcpus 8 --calls 43x40 --noise 1 > '$out/steal2.json'"
sub steal-check python3 "$check" "$out/steal.jsonl" "$out/steal1.json" "$out/steal2.json" --expect-evicted
rmmod hypertrace && ok "rmmod (steal)" || bad "rmmod (steal)"
[ ! -e /dev/hypertrace ] && ok "device gone" || bad "device still there"
grep -q '^kvm .* 1 kvm_amd' /proc/modules && ok "kvm_amd + kvm loaded at the end" || bad "kvm state"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
