// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the pieces of a hot path cost: one program per primitive, each on
 * kvm_exit doing that one thing (and storing the result, so nothing is
 * optimised away).  ht-bench-costs attaches them all at once and reads each
 * program's bpf_stats; the cost of a primitive is its program's run time
 * minus the empty one's.  Under the testbed's icount time base, 1 ns is one
 * guest instruction.  See tests/bench/README.md ("Primitive costs").
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kvm_trace_types.h"
#include "ht_hist.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_agg_value);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

extern struct kvm_vcpu *kvm_running_vcpu __ksym __weak;

volatile __u64 sink;

SEC("raw_tp/kvm_exit")
int p00_empty(void *ctx)
{
	return 0;
}

SEC("raw_tp/kvm_exit")
int p01_ktime_get_ns(void *ctx)
{
	sink = bpf_ktime_get_ns();
	return 0;
}

SEC("raw_tp/kvm_exit")
int p02_get_current_pid_tgid(void *ctx)
{
	sink = bpf_get_current_pid_tgid();
	return 0;
}

SEC("raw_tp/kvm_exit")
int p03_this_cpu_ptr(void *ctx)
{
	struct kvm_vcpu **p = bpf_this_cpu_ptr(&kvm_running_vcpu);

	sink = (__u64)*p;
	return 0;
}

SEC("raw_tp/kvm_exit")
int p04_get_smp_processor_id(void *ctx)
{
	sink = bpf_get_smp_processor_id();
	return 0;
}

/* A vCPU field through a raw (untyped) argument: a probe read. */
SEC("raw_tp/kvm_exit")
int p05_probe_read_kernel(struct bpf_raw_tracepoint_args *ctx)
{
	struct kvm_vcpu *vcpu = (void *)ctx->args[0];

	sink = BPF_CORE_READ(vcpu, stat.exits);
	return 0;
}

/* The same field through a BTF-typed argument: a plain load. */
SEC("tp_btf/kvm_exit")
int p06_btf_load(__u64 *ctx)
{
	struct kvm_vcpu *vcpu = (void *)ctx[0];

	if (vcpu)	/* 6.12 marks tracepoint arguments maybe-NULL */
		sink = vcpu->stat.exits;
	return 0;
}

SEC("raw_tp/kvm_exit")
int p07_array_lookup(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&arr, &zero);

	if (v)
		sink = *v;
	return 0;
}

SEC("raw_tp/kvm_exit")
int p08_percpu_array_lookup(void *ctx)
{
	__u32 zero = 0;
	struct ht_agg_value *v = bpf_map_lookup_elem(&pcpu, &zero);

	if (v)
		sink = v->count;
	return 0;
}

/* --summary's per-hypercall work once its value is found. */
SEC("raw_tp/kvm_exit")
int p09_percpu_lookup_and_ht_agg_add(void *ctx)
{
	__u32 zero = 0;
	struct ht_agg_value *v = bpf_map_lookup_elem(&pcpu, &zero);
	__u64 t = sink;

	if (v)
		ht_agg_add(v, t, t + 700, t + 1500);
	return 0;
}

/* A 96-byte record (the size of struct ht_record) reserved and submitted. */
SEC("raw_tp/kvm_exit")
int p10_ringbuf_reserve_submit(void *ctx)
{
	__u64 *r = bpf_ringbuf_reserve(&rb, 96, 0);

	if (!r)
		return 0;
	r[0] = 1;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("raw_tp/kvm_exit")
int p11_ringbuf_query(void *ctx)
{
	sink = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
