// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Benchmark floors: empty programs on the three kvm tracepoints, attached
 * either as classic (perf) tracepoints -- the kernel still formats each record
 * before the program runs -- or as raw tracepoints.  Any BPF tracer of this
 * kind pays at least this much.  Loaded by ht-bench-attach.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/kvm/kvm_exit")
int htb_exit_tp(void *ctx) { return 0; }
SEC("tracepoint/kvm/kvm_hypercall")
int htb_hc_tp(void *ctx) { return 0; }
SEC("tracepoint/kvm/kvm_entry")
int htb_entry_tp(void *ctx) { return 0; }

SEC("raw_tp/kvm_exit")
int htb_exit_raw(void *ctx) { return 0; }
SEC("raw_tp/kvm_hypercall")
int htb_hc_raw(void *ctx) { return 0; }
SEC("raw_tp/kvm_entry")
int htb_entry_raw(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
