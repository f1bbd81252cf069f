/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-vCPU state without a hash-map update per exit: a fixed table of slots
 * keyed by a nonzero owner id, found with a multiply, a mask and a compare.
 * The BPF backend keys by the vCPU (its struct kvm_vcpu address, an opaque
 * number here: it never leaves the kernel and is never dereferenced by this
 * code); the module keys by thread id (current->pid costs it nothing).
 *
 * Why BPF keys by vCPU and not by thread: kvm_exit and kvm_entry hand the vCPU
 * over as an argument (raw tracepoints), and kvm_hypercall's program finds it
 * in KVM's per-CPU kvm_running_vcpu (set from vcpu_load to vcpu_put, so it is
 * right even if the thread migrated between exit and hypercall), while the
 * thread id would cost a helper call per event.  Either way: no helper call,
 * no lock, no allocation.  An owner's events are serialized by its thread,
 * so only claiming a slot needs an atomic.
 *
 * Slots: HT_VT_PROBES consecutive ones from hash(key) are the vCPU's window.
 * An exit finds its slot there or claims a free one (compare-and-swap of the
 * key 0 -> vcpu).  Slots are never freed one by one (nothing tells us a vCPU
 * died); a slot whose last exit is older than HT_VT_STEAL_AFTER_NS may be
 * taken over by a vCPU whose window is full, which is counted as an eviction.
 * A freed vCPU whose memory is reused by a new one continues in the same
 * slot: its first event, kvm_entry, cannot complete what the old vCPU left
 * armed (ht_sm_entry() compares the arming thread and vCPU run).
 *
 * Two takers never share a slot: each first moves t_exit_ns off the value it
 * read (compare-and-swap), then the key; a free slot's claimer must also move
 * t_exit_ns off 0, or it lost to a taker (tests/unit/test_vcpu_table.cpp
 * races three threads over one window).
 *
 * Known and accepted: if a vCPU silent for HT_VT_STEAL_AFTER_NS exits at the
 * very moment its slot is taken over, its stores may land in the new owner's
 * slot and skew that owner's next record.  It needs a full window, a
 * ten-second-idle owner and a simultaneous exit; tables are sized so windows
 * do not fill.
 *
 * Used by the BPF program (the table is one array map value), the module and
 * the host unit tests.  A backend that keeps more per owner (the BPF
 * program's per-vCPU counters and --summary cache) keeps it in an array of
 * its own struct that starts with struct ht_vcpu_slot; the functions below
 * take the element size (stride).
 */
#ifndef HT_VCPU_TABLE_H
#define HT_VCPU_TABLE_H

#include "ht_types.h"
#include "ht_config.h"
#include "ht_state_machine.h"

#define HT_VT_PROBES 8
/* Default for ht_vt_get's steal_after_ns (tests make it small). */
#define HT_VT_STEAL_AFTER_NS (10ull * 1000000000ull)

struct ht_vcpu_slot {
	__u64 key; /* owner id, 0: free */
	struct ht_thread_state sm;
};

HT_INLINE __u32 ht_vt_hash(__u64 key)
{
	/* Fibonacci hashing: vCPU structs are big and aligned, the low bits
	 * are all zero; the multiply spreads the high ones. */
	return (__u32)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

/*
 * Slot i of a table whose elements are `stride` bytes: struct ht_vcpu_slot,
 * or a backend's own struct that starts with one.
 */
HT_INLINE struct ht_vcpu_slot *ht_vt_slot(void *t, __u32 stride, __u32 i)
{
	return (struct ht_vcpu_slot *)((char *)t + (__u64)i * stride);
}

/* The slot of vCPU `key`, or NULL.  mask = slots - 1 (a power of two). */
HT_INLINE struct ht_vcpu_slot *ht_vt_find(void *t, __u32 stride, __u32 mask,
					  __u64 key)
{
	__u32 h = ht_vt_hash(key);
	__u32 i;

	for (i = 0; i < HT_VT_PROBES; i++) {
		struct ht_vcpu_slot *s = ht_vt_slot(t, stride, (h + i) & mask);

		if (s->key == key)
			return s;
	}
	return 0;
}

/*
 * At kvm_exit: the slot of `key`, claimed if it had none.  *evicted is set
 * when an idle slot was taken over.  NULL: the window is full of owners that
 * exited within steal_after_ns (the caller counts HT_CNT_NO_STATE).
 */
HT_INLINE struct ht_vcpu_slot *ht_vt_get(void *t, __u32 stride, __u32 mask,
					 __u64 key, __u64 now,
					 __u64 steal_after_ns, int *evicted)
{
	__u32 h = ht_vt_hash(key);
	struct ht_vcpu_slot *s;
	__u32 i;

	*evicted = 0;
	s = ht_vt_find(t, stride, mask, key);
	if (s)
		return s;
	for (i = 0; i < HT_VT_PROBES; i++) {
		s = ht_vt_slot(t, stride, (h + i) & mask);
		if (s->key == 0 && HT_CMPXCHG64(&s->key, 0, key) == 0) {
			/* Free slots were never used: t_exit_ns is 0, which a
			 * stealer sees as idle.  Whoever moves it off 0 first
			 * owns the slot; if a stealer did, it also takes the key. */
			if (HT_CMPXCHG64(&s->sm.t_exit_ns, 0, now) != 0)
				return 0;
			goto claimed;
		}
	}
	for (i = 0; i < HT_VT_PROBES; i++) {
		__u64 old, t_old;

		s = ht_vt_slot(t, stride, (h + i) & mask);
		old = s->key;
		t_old = s->sm.t_exit_ns;
		/* The timestamp is the ticket: only one taker moves it from
		 * the idle value it read, and it does so before swapping the
		 * key, so a slot whose key is a fresh taker's never looks
		 * idle.  Signed: another CPU may have stamped the slot after
		 * we read our clock; that is not idle (unsigned, it wrapped
		 * to "idle for ages" and a live slot was taken over). */
		if (old && (__s64)(now - t_old) > 0 &&
		    now - t_old > steal_after_ns &&
		    HT_CMPXCHG64(&s->sm.t_exit_ns, t_old, now) == t_old &&
		    HT_CMPXCHG64(&s->key, old, key) == old) {
			*evicted = 1;
			goto claimed;
		}
	}
	return 0;
claimed:
	/* A taken-over slot keeps its phase: the caller's ht_sm_exit() counts
	 * what the old owner left (an armed hypercall is unmatched, never
	 * completed by the new owner); a free slot is IDLE. */
	s->sm.t_exit_ns = now;
	return s;
}

#endif /* HT_VCPU_TABLE_H */
