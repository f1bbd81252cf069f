/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces between the parts of hypertrace.ko. */
#ifndef HT_KMOD_H
#define HT_KMOD_H

#include <linux/irq_work.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "ht_config.h"
#include "ht_ioctl.h"
#include "ht_record.h"
#include "ht_ring.h"
#include "ht_state_machine.h"
#include "ht_vcpu_table.h"

/* ---- ring (ht_kring.c): the BPF ring buffer protocol, common/ht_ring.h -- */

struct ht_kring {
	raw_spinlock_t lock; /* serializes reserve, as ringbuf.c */
	u64 mask;	     /* data bytes - 1 */
	u64 wake_mark;	     /* wake at this much unread data */
	u32 data_bytes;
	unsigned int nr_pages; /* consumer + producer + data */
	struct page **pages;   /* nr_pages distinct pages */
	void *base;	       /* vmap: cons, prod, data, data again */
	u64 *consumer_pos;     /* written by the reader only */
	u64 *producer_pos;
	u8 *data;
	struct irq_work work;
	wait_queue_head_t waitq;
};

struct ht_kring *ht_kring_alloc(u32 data_bytes);
void ht_kring_free(struct ht_kring *rb);
void *ht_kring_reserve(struct ht_kring *rb, u32 size);
void ht_kring_commit(struct ht_kring *rb, void *sample);
bool ht_kring_has_data(struct ht_kring *rb);
int ht_kring_mmap(struct ht_kring *rb, struct vm_area_struct *vma);

/* ---- per-thread state (ht_state_table.c) ------------------------------ */

struct ht_pcpu_counters {
	u64 c[HT_CNT_MAX];
};

DECLARE_PER_CPU(struct ht_pcpu_counters, ht_counters);

/* common/ht_vcpu_table.h's table, keyed by tid. */
struct ht_state_table {
	struct ht_vcpu_slot *slots;
	u32 mask; /* slots - 1 */
	u64 steal_after_ns;
};

extern struct ht_state_table ht_states;

int ht_state_init(void);
void ht_state_exit(void);
void ht_state_reset(void); /* only while detached */
u32 ht_state_slots(void);

/* ---- probes (ht_probes.c) ---------------------------------------------- */

struct ht_kagg;

/* What the probes read; written only while detached (ht_main.c). */
struct ht_trace_cfg {
	struct ht_filter filter;
	struct ht_ioc_reason reason;
	struct ht_kring *ring;
	struct ht_kagg *agg; /* summary mode's tables, or NULL */
	u32 flags;	     /* HT_CONFIG_F_* */
	u32 exit_proto;
	u32 entry_proto;
	u32 hv_proto;  /* enum ht_hv_proto */
	u32 xen_proto; /* enum ht_xen_proto */
};

extern struct ht_trace_cfg ht_cfg;

enum ht_tp {
	HT_TP_EXIT,
	HT_TP_HYPERCALL,
	HT_TP_ENTRY,
	HT_TP_USERSPACE_EXIT, /* optional: attached where kvm has it */
	HT_TP_HV_HYPERCALL,   /* optional: with ht_cfg.hv_proto */
	HT_TP_HV_HYPERCALL_DONE,
	HT_TP_XEN_HYPERCALL, /* optional: with ht_cfg.xen_proto */
	HT_TP_COUNT,
};

/* The probe for a tracepoint, per ht_cfg's prototypes. */
void *ht_probe_for(enum ht_tp tp);

/* ---- summary mode (ht_agg.c) ------------------------------------------- */

int ht_agg_param_check(void);
u32 ht_agg_keys(void);
struct ht_kagg *ht_kagg_alloc(void);
void ht_kagg_free(struct ht_kagg *agg);
void ht_kagg_reset(struct ht_kagg *agg); /* only while detached */
/* From the kvm_entry probe: false if the key found no room. */
bool ht_kagg_add(struct ht_kagg *agg, u32 pid, u64 nr,
		 const struct ht_thread_state *s, u64 t_entry_ns);
long ht_kagg_take(struct ht_kagg *agg, struct ht_ioc_agg_take *t, bool running);

/* ---- attaching (ht_attach.c) ------------------------------------------ */

int ht_attach_start(void); /* registers the module notifier */
void ht_attach_stop(void); /* unregisters, then waits for probes */
void ht_attach_status(struct ht_ioc_status *st);

#endif /* HT_KMOD_H */
