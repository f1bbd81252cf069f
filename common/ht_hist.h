/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * In-kernel aggregation for --summary: per (VM process, hypercall ABI,
 * hypercall nr) a count,
 * exact min/max/sums and a log-linear latency histogram, kept by the backend
 * in the kernel so summary mode moves no per-event records.  Shared by the
 * BPF program (a per-CPU hash map), the module (its own table, ioctl ABI)
 * and userspace (percentiles), and unit-tested on the host.
 *
 * Buckets are log-linear over nanoseconds: values below 2^HT_HIST_SUB_BITS
 * each have their own bucket; above, every power of two [2^e, 2^(e+1)) is
 * split into HT_HIST_SUB equal buckets.  A bucket's width is at most 1/32 of
 * its lower bound, so a percentile reported as its bucket's lower bound r and
 * the exact value x satisfy r <= x < r + r/32 (under 3.2 % low, never high).
 * Values of 2^(HT_HIST_MAX_LOG2+1) ns (about 36 minutes) and more share the
 * last bucket, [2^41 - 2^35, 2^41), with its own values; min/max/count/sums
 * are exact whatever the value.
 */
#ifndef HT_HIST_H
#define HT_HIST_H

#include "ht_types.h"

#define HT_HIST_SUB_BITS 5
#define HT_HIST_SUB (1u << HT_HIST_SUB_BITS)
#define HT_HIST_MAX_LOG2 40
#define HT_HIST_BUCKETS \
	((HT_HIST_MAX_LOG2 - HT_HIST_SUB_BITS + 2) * HT_HIST_SUB)

/*
 * The key: VM process (tgid), hypercall ABI (enum ht_abi: a Hyper-V code
 * and a KVM nr of the same value are different calls) and number.  parity:
 * the BPF program's interval generation (agg_gen & 1) in its hot-key index,
 * 0 everywhere else (the module's ioctl, userspace's tables).
 */
struct ht_agg_key {
	__u32 pid;
	__u16 parity;
	__u8 abi;
	__u8 reserved; /* zero */
	__u64 nr;
};

/*
 * One key's statistics.  Latency = t_entry - t_exit (as the record's; 0 if
 * the clock went backwards), split into exit->hypercall and
 * hypercall->entry for the two sums.  The VMM part (t_entry -
 * kvm_userspace_exit) of the calls that went back to the VMM: how many, and
 * its sum; the kernel part of those is their latency minus it.
 */
struct ht_agg_value {
	__u64 count;
	__u64 vmm_count;
	__u64 sum_vmm_ns;
	__u64 sum_ns;
	__u64 min_ns; /* meaningful when count > 0 */
	__u64 max_ns;
	__u64 sum_exit_hc_ns;
	__u64 sum_hc_entry_ns;
	__u64 buckets[HT_HIST_BUCKETS];
};

HT_STATIC_ASSERT(sizeof(struct ht_agg_key) == 16, "ht_agg_key layout is ABI");
HT_STATIC_ASSERT(sizeof(struct ht_agg_value) == 64 + 8 * HT_HIST_BUCKETS,
		 "ht_agg_value layout is ABI");

/* Index of the most significant set bit; v != 0.  Branches only: BPF has no clz. */
HT_INLINE __u32 ht_msb64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

HT_INLINE __u32 ht_hist_index(__u64 ns)
{
	__u32 e;

	if (ns < HT_HIST_SUB)
		return (__u32)ns;
	e = ht_msb64(ns);
	if (e > HT_HIST_MAX_LOG2)
		return HT_HIST_BUCKETS - 1;
	return (e - HT_HIST_SUB_BITS + 1) * HT_HIST_SUB +
	       (__u32)((ns >> (e - HT_HIST_SUB_BITS)) & (HT_HIST_SUB - 1));
}

/* The smallest value that falls into bucket idx. */
HT_INLINE __u64 ht_hist_lower(__u32 idx)
{
	__u32 group = idx / HT_HIST_SUB;

	if (group == 0)
		return idx;
	return (__u64)(HT_HIST_SUB + idx % HT_HIST_SUB) << (group - 1);
}

/*
 * Add one matched hypercall.  Not atomic: each writer owns its value (the
 * BPF per-CPU map's slot for this CPU; the module serializes per value).
 */
HT_INLINE void ht_agg_add(struct ht_agg_value *v, __u64 t_exit_ns,
			  __u64 t_hypercall_ns, __u64 t_entry_ns,
			  __u64 t_uexit_ns)
{
	__u64 lat = t_entry_ns > t_exit_ns ? t_entry_ns - t_exit_ns : 0;
	__u64 a = t_hypercall_ns > t_exit_ns ? t_hypercall_ns - t_exit_ns : 0;
	__u64 b = t_entry_ns > t_hypercall_ns ? t_entry_ns - t_hypercall_ns : 0;
	__u32 idx = ht_hist_index(lat);

	if (v->count == 0 || lat < v->min_ns)
		v->min_ns = lat;
	if (lat > v->max_ns)
		v->max_ns = lat;
	v->count++;
	v->sum_ns += lat;
	v->sum_exit_hc_ns += a;
	v->sum_hc_entry_ns += b;
	if (t_uexit_ns) {
		v->vmm_count++;
		v->sum_vmm_ns += t_entry_ns > t_uexit_ns ?
					 t_entry_ns - t_uexit_ns :
					 0;
	}
	if (idx < HT_HIST_BUCKETS) /* always; the verifier needs to see it */
		v->buckets[idx]++;
}

/*
 * Fold the statistics of `from` into `into` (userspace: one key's per-CPU
 * values, summed).  An empty `from` changes nothing; min is taken only over
 * values that hold data.
 */
HT_INLINE void ht_agg_merge(struct ht_agg_value *into,
			    const struct ht_agg_value *from)
{
	__u32 i;

	if (from->count == 0)
		return;
	if (into->count == 0 || from->min_ns < into->min_ns)
		into->min_ns = from->min_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
	into->count += from->count;
	into->vmm_count += from->vmm_count;
	into->sum_vmm_ns += from->sum_vmm_ns;
	into->sum_ns += from->sum_ns;
	into->sum_exit_hc_ns += from->sum_exit_hc_ns;
	into->sum_hc_entry_ns += from->sum_hc_entry_ns;
	for (i = 0; i < HT_HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

#endif /* HT_HIST_H */
