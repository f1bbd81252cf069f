// SPDX-License-Identifier: GPL-2.0
/*
 * The per-thread state table: common/ht_vcpu_table.h, keyed by tid.
 *
 * No lock, no allocation: a slot is found with a multiply, a mask and up to
 * HT_VT_PROBES compares; a new thread claims a free slot with cmpxchg.  A
 * thread's own events are serialized by the thread (exit, hypercall and
 * entry of one KVM_RUN iteration run on it, one after the other, even where
 * the hypercall probe is preemptible: ht_probes.c), so only the claim is
 * atomic.  There is no exported task-exit hook: slots
 * are never freed; one whose owner has not exited for state_steal_after_ms is
 * taken over by a thread whose window is full (HT_CNT_EVICTED), and a thread
 * that finds its window full of live owners has no state (HT_CNT_NO_STATE;
 * its hypercalls count as unmatched).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "ht_kmod.h"

/*
 * Table size, 8 << state_table_bits slots (struct ht_vcpu_slot).  A module
 * parameter so that the tests can make it tiny (0: 8 slots, one window) and
 * prove that a full table is counted and never corrupts a record; 10 (8192
 * slots) serves a host with thousands of vCPU threads.
 */
static unsigned int state_table_bits = 10;
module_param(state_table_bits, uint, 0444);
MODULE_PARM_DESC(state_table_bits,
		 "per-thread state table: 8 << bits slots (0-16, default 10)");

static unsigned int state_steal_after_ms = (unsigned int)(HT_VT_STEAL_AFTER_NS /
							  NSEC_PER_MSEC);
module_param(state_steal_after_ms, uint, 0444);
MODULE_PARM_DESC(
	state_steal_after_ms,
	"take over the state slot of a thread silent this long (default 10000)");

DEFINE_PER_CPU(struct ht_pcpu_counters, ht_counters);
struct ht_state_table ht_states;

u32 ht_state_slots(void)
{
	return HT_VT_PROBES << state_table_bits;
}

int ht_state_init(void)
{
	if (state_table_bits > 16) {
		pr_err("state_table_bits=%u is out of range: use 0 to 16\n",
		       state_table_bits);
		return -EINVAL;
	}
	ht_states.slots = vzalloc((size_t)ht_state_slots() *
				  sizeof(*ht_states.slots));
	if (!ht_states.slots)
		return -ENOMEM;
	ht_states.mask = ht_state_slots() - 1;
	ht_states.steal_after_ns = (u64)state_steal_after_ms * NSEC_PER_MSEC;
	return 0;
}

void ht_state_exit(void)
{
	vfree(ht_states.slots);
	ht_states.slots = NULL;
}

/* Only while detached. */
void ht_state_reset(void)
{
	int cpu;

	memset(ht_states.slots, 0,
	       (size_t)ht_state_slots() * sizeof(*ht_states.slots));
	for_each_possible_cpu (cpu)
		memset(per_cpu_ptr(&ht_counters, cpu), 0,
		       sizeof(struct ht_pcpu_counters));
}
