// SPDX-License-Identifier: GPL-2.0
/*
 * Summary mode (--summary): per (VM process, hypercall nr) statistics
 * (common/ht_hist.h) kept in the kernel, so no record moves per hypercall.
 *
 * Two generations of a bounded key table.  Probes add to the generation
 * `cur` names; HT_IOC_AGG_TAKE flips `cur`, waits until no probe still
 * writes the old generation (tracepoint_synchronize_unregister(): whatever
 * the kernel runs probes under, preemption disabled up to 6.12 or SRCU-fast
 * in 7.x, it waits for every probe that started before), then copies the
 * old one out and clears it.  Every
 * hypercall is in exactly one take: lossless.  A generation is only made
 * current again once it is empty (`pending` is clear).
 *
 * A generation: agg_keys slots, open addressing with linear probing from a
 * hash of the key, bounded: a key lives only in the first HT_AGG_PROBES
 * slots of its sequence.  Keys are never removed while the generation is
 * current, so a key is found before the first free slot of its sequence,
 * within those HT_AGG_PROBES slots; a key whose HT_AGG_PROBES slots all hold
 * other keys finds no room (ht_kagg_add() returns false and the caller deals
 * with the hypercall another way).  The bound matters because nr is the
 * guest's rax: a guest issuing ever new numbers must not make the host scan
 * a full table of agg_keys slots (9.5 KB apart) from kvm_entry, which runs
 * with interrupts off.  A key is claimed with cmpxchg of the slot state
 * FREE -> BUSY, the key stored, then READY published with release order; a
 * prober that meets BUSY waits for READY (the claimer is the kvm_entry
 * probe, which KVM calls with interrupts off, a few stores from done), but at most
 * HT_AGG_BUSY_SPINS times: a claimer interrupted by an NMI, or preempted in
 * a guest kernel's vCPU, must not stall this probe either, so a wait that
 * runs out is "no room" too (never "skip the slot": the BUSY slot may be
 * becoming this very key, and a key must be in one slot only).
 *
 * Work per ht_kagg_add(), whatever the table size and its fill:
 *   at most HT_AGG_PROBES (8) slots loaded, 8 cmpxchg, and
 *   8 x HT_AGG_BUSY_SPINS (1024) cpu_relax() in the worst case of 8 slots
 *   all being claimed at that moment by other CPUs (each claim is a few
 *   stores, so in practice a wait is a few iterations).
 *
 * Values: one raw spinlock per value, taken irqsave.  vCPU threads of one
 * VM calling the same nr on several CPUs add to the same value; ht_agg_add()
 * is a few dozen instructions, so the lock is held for tens of nanoseconds
 * and contended only by that VM's own vCPUs on the same nr.  Per-CPU values
 * would avoid even that, but cost agg_keys x 9.5 KB x CPUs x 2 (about 1.2 GB
 * on a 64-CPU host at 1024 keys) where a value with its lock costs 9.5 KB
 * once.  irqsave: kvm_entry runs with interrupts off on current kernels (the
 * save is then free), and an interrupt taking the lock on the same CPU can
 * never deadlock it on a kernel that calls it with interrupts on.  The take
 * reads the old generation with no lock: after the grace period nobody
 * writes it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "ht_kmod.h"
#include "ht_hist.h"

/*
 * Keys per generation: a power of two, 1 to 16384.  Each costs about 9.5 KB
 * in each of the two generations, allocated only while a summary-mode
 * session is open (1024: about 19.5 MB).  A parameter so that the tests can
 * fill the table.
 */
static unsigned int agg_keys = 1024;
module_param(agg_keys, uint, 0444);
MODULE_PARM_DESC(agg_keys,
		 "summary mode: (pid, nr) keys per interval, a power of two "
		 "(1-16384, default 1024)");

#define HT_AGG_MAX_KEYS 16384u

/* Slots a key may occupy, from its hash on (see the top of the file). */
#define HT_AGG_PROBES 8u
/* cpu_relax() rounds a prober waits for one BUSY slot before giving up. */
#define HT_AGG_BUSY_SPINS 1024u

enum {
	HT_AGG_FREE = 0,
	HT_AGG_BUSY = 1, /* being claimed: key not written yet */
	HT_AGG_READY = 2,
};

struct ht_kagg_slot {
	u32 state; /* HT_AGG_* */
	u32 pid;
	u8 abi;
	u64 nr;
	raw_spinlock_t lock; /* serializes adds to v */
	struct ht_agg_value v;
};

struct ht_kagg {
	u32 cur;      /* generation probes write (READ_ONCE) */
	bool pending; /* the other one is not drained yet */
	u32 mask;     /* agg_keys - 1 */
	struct ht_kagg_slot *gen[2];
};

int ht_agg_param_check(void)
{
	if (!agg_keys || agg_keys > HT_AGG_MAX_KEYS ||
	    !is_power_of_2(agg_keys)) {
		pr_err("agg_keys=%u is out of range: use a power of two from 1 to %u\n",
		       agg_keys, HT_AGG_MAX_KEYS);
		return -EINVAL;
	}
	return 0;
}

u32 ht_agg_keys(void)
{
	return agg_keys;
}

static void ht_kagg_clear_slot(struct ht_kagg_slot *sl)
{
	/* Not the lock: it stays initialized. */
	sl->state = HT_AGG_FREE;
	sl->pid = 0;
	sl->abi = 0;
	sl->nr = 0;
	memset(&sl->v, 0, sizeof(sl->v));
}

struct ht_kagg *ht_kagg_alloc(void)
{
	struct ht_kagg *agg;
	unsigned int g, i;

	agg = kzalloc(sizeof(*agg), GFP_KERNEL);
	if (!agg)
		return NULL;
	agg->mask = agg_keys - 1;
	for (g = 0; g < 2; g++) {
		agg->gen[g] = vzalloc((size_t)agg_keys *
				      sizeof(struct ht_kagg_slot));
		if (!agg->gen[g]) {
			ht_kagg_free(agg);
			return NULL;
		}
		for (i = 0; i < agg_keys; i++)
			raw_spin_lock_init(&agg->gen[g][i].lock);
	}
	return agg;
}

/* No probe may run (detached and synchronized). */
void ht_kagg_free(struct ht_kagg *agg)
{
	if (!agg)
		return;
	vfree(agg->gen[0]);
	vfree(agg->gen[1]);
	kfree(agg);
}

/* Only while detached. */
void ht_kagg_reset(struct ht_kagg *agg)
{
	unsigned int g, i;

	for (g = 0; g < 2; g++)
		for (i = 0; i <= agg->mask; i++)
			if (agg->gen[g][i].state != HT_AGG_FREE)
				ht_kagg_clear_slot(&agg->gen[g][i]);
	agg->cur = 0;
	agg->pending = false;
}

static inline u32 ht_kagg_hash(u32 pid, u8 abi, u64 nr)
{
	return (u32)(hash_64(nr ^ ((u64)pid << 32) ^ pid ^ ((u64)abi << 24),
			     32));
}

/*
 * The slot of (pid, abi, nr) in generation t, claimed if new; NULL: no room
 * among the key's HT_AGG_PROBES slots (or a claim there took too long).
 */
static struct ht_kagg_slot *ht_kagg_slot(struct ht_kagg_slot *t, u32 mask,
					 u32 pid, u8 abi, u64 nr)
{
	u32 h = ht_kagg_hash(pid, abi, nr);
	u32 probes = min_t(u32, HT_AGG_PROBES, mask + 1);
	u32 i, spins;

	for (i = 0; i < probes; i++) {
		struct ht_kagg_slot *sl = &t[(h + i) & mask];
		u32 st = smp_load_acquire(&sl->state);

		if (st == HT_AGG_FREE) {
			st = cmpxchg(&sl->state, HT_AGG_FREE, HT_AGG_BUSY);
			if (st == HT_AGG_FREE) {
				sl->pid = pid;
				sl->abi = abi;
				sl->nr = nr;
				smp_store_release(&sl->state, HT_AGG_READY);
				return sl;
			}
		}
		for (spins = 0; st == HT_AGG_BUSY; spins++) {
			if (spins == HT_AGG_BUSY_SPINS)
				return NULL;
			cpu_relax();
			st = smp_load_acquire(&sl->state);
		}
		if (sl->pid == pid && sl->abi == abi && sl->nr == nr)
			return sl;
	}
	return NULL;
}

bool ht_kagg_add(struct ht_kagg *agg, u32 pid, u64 nr,
		 const struct ht_thread_state *s, u64 t_entry_ns)
{
	struct ht_kagg_slot *sl;
	unsigned long flags;

	if (unlikely(!agg))
		return false;
	sl = ht_kagg_slot(agg->gen[READ_ONCE(agg->cur) & 1], agg->mask, pid,
			  s->abi, nr);
	if (unlikely(!sl))
		return false;
	raw_spin_lock_irqsave(&sl->lock, flags);
	ht_agg_add(&sl->v, s->t_exit_ns, s->t_hypercall_ns, t_entry_ns,
		   s->t_uexit_ns);
	raw_spin_unlock_irqrestore(&sl->lock, flags);
	return true;
}

/*
 * HT_IOC_AGG_TAKE, with the device mutex held.  The copies to user memory
 * may fault and take mmap_lock under the device mutex: that is the lock
 * order (ht_main.c), which is why ht_mmap() takes no device mutex.  Copies first and clears only
 * once every copy succeeded (the same slots, in the same order: nobody else
 * touches the old generation), so an EFAULT loses nothing.
 */
long ht_kagg_take(struct ht_kagg *agg, struct ht_ioc_agg_take *t, bool running)
{
	struct ht_ioc_agg_entry __user *dst;
	struct ht_kagg_slot *old;
	u32 i, n = 0, left = 0;

	if (t->flags || t->reserved || !t->capacity)
		return -EINVAL;
	dst = (struct ht_ioc_agg_entry __user *)(uintptr_t)t->entries;
	if (!access_ok(dst, (size_t)t->capacity * sizeof(*dst)))
		return -EFAULT;

	if (!agg->pending) {
		/* gen[cur ^ 1] is empty: make it current, then wait for the
		 * probes that may still write the other one.  Stopped: none
		 * runs (ht_attach_stop() synchronized). */
		WRITE_ONCE(agg->cur, agg->cur ^ 1);
		if (running)
			tracepoint_synchronize_unregister();
		agg->pending = true;
	}
	old = agg->gen[(agg->cur ^ 1) & 1];

	for (i = 0; i <= agg->mask; i++) {
		struct ht_kagg_slot *sl = &old[i];
		struct ht_agg_key key = { .pid = sl->pid,
					  .abi = sl->abi,
					  .nr = sl->nr };

		if (sl->state != HT_AGG_READY)
			continue;
		if (n == t->capacity) {
			left++;
			continue;
		}
		if (copy_to_user(&dst[n].key, &key, sizeof(key)) ||
		    copy_to_user(&dst[n].value, &sl->v, sizeof(sl->v)))
			return -EFAULT;
		n++;
	}
	for (i = 0, t->count = 0; i <= agg->mask && t->count < n; i++) {
		if (old[i].state != HT_AGG_READY)
			continue;
		ht_kagg_clear_slot(&old[i]);
		t->count++;
	}
	if (!left)
		agg->pending = false;
	t->remaining = left;
	return 0;
}
