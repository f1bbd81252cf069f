// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching the probes (ht_probes.c) to the kvm module's tracepoints.
 *
 * kvm_hypercall is not exported and linking against the exported
 * tracepoints would pin kvm, so probes are registered from the tracepoint
 * module notifier (register_tracepoint_module_notifier(), kernel/tracepoint.c,
 * 3.15+): COMING attaches (also replayed for kvm already loaded when tracing
 * starts), GOING detaches.  kvm can be unloaded and loaded again while
 * tracing; the probes follow it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "compat.h"
#include "ht_kmod.h"

struct ht_tp_slot {
	const char *name;
	u32 bit;	       /* HT_ATTACHED_* */
	void *probe;	       /* chosen at start */
	struct tracepoint *tp; /* attached to, or NULL */
	struct module *mod;    /* owner of tp, NULL if built in */
};

static struct ht_tp_slot ht_tps[HT_TP_COUNT] = {
	[HT_TP_EXIT] = { .name = "kvm_exit", .bit = HT_ATTACHED_EXIT },
	[HT_TP_HYPERCALL] = { .name = "kvm_hypercall",
			      .bit = HT_ATTACHED_HYPERCALL },
	[HT_TP_ENTRY] = { .name = "kvm_entry", .bit = HT_ATTACHED_ENTRY },
	[HT_TP_USERSPACE_EXIT] = { .name = "kvm_userspace_exit",
				   .bit = HT_ATTACHED_USERSPACE_EXIT },
	[HT_TP_HV_HYPERCALL] = { .name = "kvm_hv_hypercall",
				 .bit = HT_ATTACHED_HV_HYPERCALL },
	[HT_TP_HV_HYPERCALL_DONE] = { .name = "kvm_hv_hypercall_done",
				      .bit = HT_ATTACHED_HV_HYPERCALL_DONE },
	[HT_TP_XEN_HYPERCALL] = { .name = "kvm_xen_hypercall",
				  .bit = HT_ATTACHED_XEN_HYPERCALL },
};

/*
 * Attach in this order, not in the order the module lists its tracepoints,
 * and detach in the reverse one: a vCPU thread must never be seen between
 * its exit and its hypercall with the hypercall probe attached but not the
 * exit probe, or tracing that starts or stops mid-workload counts spurious
 * unmatched hypercalls (the eBPF backend attaches and detaches in the same
 * orders).
 */
static const enum ht_tp ht_attach_order[HT_TP_COUNT] = {
	HT_TP_ENTRY,
	HT_TP_EXIT,
	HT_TP_HYPERCALL,
	/* After kvm_exit, as kvm_hypercall; done before it. */
	HT_TP_HV_HYPERCALL_DONE,
	HT_TP_HV_HYPERCALL,
	HT_TP_XEN_HYPERCALL,
	/* Last: it only ever touches an armed hypercall. */
	HT_TP_USERSPACE_EXIT,
};

/* Nests inside tracepoint_module_list_mutex (notifier callbacks). */
static DEFINE_MUTEX(ht_attach_mutex);
static u32 ht_attach_count, ht_attach_errors;

static u32 ht_attached_bits(void)
{
	u32 bits = 0;
	unsigned int i;

	for (i = 0; i < HT_TP_COUNT; i++)
		if (ht_tps[i].tp)
			bits |= ht_tps[i].bit;
	return bits;
}

/* With ht_attach_mutex held. */
static void ht_attach_tp(struct tracepoint *tp, struct module *mod)
{
	unsigned int i;
	int ret;

	for (i = 0; i < HT_TP_COUNT; i++) {
		struct ht_tp_slot *sl = &ht_tps[i];

		if (sl->tp || !sl->probe || strcmp(tp->name, sl->name))
			continue;
		ret = tracepoint_probe_register(tp, sl->probe, NULL);
		if (ret) {
			pr_warn("cannot attach to %s: %d\n", sl->name, ret);
			ht_attach_errors++;
			return;
		}
		sl->tp = tp;
		sl->mod = mod;
	}
}

/* With ht_attach_mutex held; all == detach everything. */
static void ht_detach(struct module *mod, bool all)
{
	unsigned int i = HT_TP_COUNT;

	while (i--) {
		struct ht_tp_slot *sl = &ht_tps[ht_attach_order[i]];

		if (!sl->tp || (!all && sl->mod != mod))
			continue;
		tracepoint_probe_unregister(sl->tp, sl->probe, NULL);
		sl->tp = NULL;
		sl->mod = NULL;
	}
}

static void ht_attach_module(struct module *mod)
{
	u32 before = ht_attached_bits();
	unsigned int i, k;

	for (k = 0; k < HT_TP_COUNT; k++) {
		const char *name = ht_tps[ht_attach_order[k]].name;

		for (i = 0; i < mod->num_tracepoints; i++) {
			struct tracepoint *tp = tracepoint_ptr_deref(
				mod->tracepoints_ptrs + i);

			if (!strcmp(tp->name, name))
				ht_attach_tp(tp, mod);
		}
	}
	if ((before & HT_ATTACHED_ALL) != HT_ATTACHED_ALL &&
	    (ht_attached_bits() & HT_ATTACHED_ALL) == HT_ATTACHED_ALL) {
		ht_attach_count++;
		pr_debug("attached to %s\n", mod->name);
	}
}

static int ht_tp_module_notify(struct notifier_block *nb, unsigned long val,
			       void *data)
{
	struct tp_module *tp_mod = data;

	mutex_lock(&ht_attach_mutex);
	if (val == MODULE_STATE_COMING)
		ht_attach_module(tp_mod->mod);
	else if (val == MODULE_STATE_GOING)
		ht_detach(tp_mod->mod, false);
	mutex_unlock(&ht_attach_mutex);
	return NOTIFY_OK;
}

static struct notifier_block ht_tp_nb = {
	.notifier_call = ht_tp_module_notify,
};

/* kvm built into the kernel: its tracepoints are core ones.  priv: the
 * name to attach now (one pass per name, in ht_attach_order). */
static void ht_attach_core(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, priv))
		ht_attach_tp(tp, NULL);
}

int ht_attach_start(void)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < HT_TP_COUNT; i++)
		ht_tps[i].probe = ht_probe_for(i);
	mutex_lock(&ht_attach_mutex);
	ht_attach_count = 0;
	ht_attach_errors = 0;
	mutex_unlock(&ht_attach_mutex);
	mutex_lock(&ht_attach_mutex);
	for (i = 0; i < HT_TP_COUNT; i++)
		for_each_kernel_tracepoint(
			ht_attach_core,
			(void *)ht_tps[ht_attach_order[i]].name);
	if ((ht_attached_bits() & HT_ATTACHED_ALL) == HT_ATTACHED_ALL)
		ht_attach_count++;
	mutex_unlock(&ht_attach_mutex);

	/* Replays COMING for kvm if it is loaded. */
	ret = register_tracepoint_module_notifier(&ht_tp_nb);
	if (ret) {
		mutex_lock(&ht_attach_mutex);
		ht_detach(NULL, true);
		mutex_unlock(&ht_attach_mutex);
		tracepoint_synchronize_unregister();
	}
	return ret;
}

void ht_attach_stop(void)
{
	/* Replays GOING for every loaded module: detaches. */
	unregister_tracepoint_module_notifier(&ht_tp_nb);
	mutex_lock(&ht_attach_mutex);
	ht_detach(NULL, true);
	mutex_unlock(&ht_attach_mutex);
	/* No probe runs (or will run) past this point. */
	tracepoint_synchronize_unregister();
}

void ht_attach_status(struct ht_ioc_status *st)
{
	mutex_lock(&ht_attach_mutex);
	st->attached = ht_attached_bits();
	st->attach_count = ht_attach_count;
	st->attach_errors = ht_attach_errors;
	mutex_unlock(&ht_attach_mutex);
}
