// SPDX-License-Identifier: GPL-2.0
/*
 * hypertrace.ko: traces KVM hypercalls like hypertrace's eBPF backend, for
 * kernels where eBPF is missing or unusable.  This file is the character
 * device /dev/hypertrace (ioctl ABI: common/ht_ioctl.h).
 *
 * Summary mode (HT_CONFIG_F_AGGREGATE) adds statistics instead of records:
 * ht_agg.c.
 *
 * One open at a time (a second open gets EBUSY): the module has one ring,
 * one filter and one set of probes.  While the device is open the module is
 * pinned (fops owner), so rmmod is refused; close stops tracing and frees the
 * ring once no mapping is left.
 */
#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <generated/utsrelease.h>

#include "compat.h"
#include "ht_kmod.h"

/*
 * Serializes ioctls (an fd can be shared by threads) and release.
 *
 * Lock order: ht_dev_mutex may be held across a user copy (HT_IOC_AGG_TAKE
 * writes the statistics straight into the caller's buffer, which can fault
 * and take the mm's mmap lock), so it nests OUTSIDE mmap_lock.  Nothing may
 * take it under mmap_lock: mmap() runs with mmap_lock held for writing, so
 * ht_mmap() must not take it, or a thread faulting in AGG_TAKE (holding the
 * mutex, wanting mmap_lock) and a thread in mmap() (holding mmap_lock,
 * wanting the mutex) deadlock.  ht_mmap() needs no lock: the ring is
 * published once (smp_store_release in ht_set_config) with its final size,
 * is never replaced while the file is open, and is freed only by release,
 * which cannot run while mmap() holds the file.
 */
static DEFINE_MUTEX(ht_dev_mutex);
static atomic_t ht_dev_open = ATOMIC_INIT(0);
static bool ht_running;
static bool ht_configured;

static int ht_open(struct inode *inode, struct file *file)
{
	int ret;

	/*
	 * The device mode (0600) is not the only gate: a chmod, a udev rule or
	 * a container's device node must not let an unprivileged process see
	 * every VM's hypercalls, as perf and BPF tracing would not.
	 */
	if (!perfmon_capable())
		return -EPERM;
	if (atomic_cmpxchg(&ht_dev_open, 0, 1))
		return -EBUSY;
	/* misc_open() set private_data to the miscdevice; replace it. */
	ret = nonseekable_open(inode, file);
	if (ret) {
		atomic_set(&ht_dev_open, 0);
		return ret;
	}
	file->private_data = NULL;
	return 0;
}

static void ht_stop_locked(void)
{
	if (!ht_running)
		return;
	ht_attach_stop(); /* includes tracepoint_synchronize_unregister */
	ht_running = false;
}

static int ht_release(struct inode *inode, struct file *file)
{
	mutex_lock(&ht_dev_mutex);
	ht_stop_locked();
	ht_kring_free(ht_cfg.ring); /* no mapping is left: release */
	ht_kagg_free(ht_cfg.agg);
	memset(&ht_cfg, 0, sizeof(ht_cfg));
	ht_configured = false;
	mutex_unlock(&ht_dev_mutex);
	atomic_set(&ht_dev_open, 0);
	return 0;
}

/* Sorted, non-overlapping, inclusive ranges (userspace merges). */
static int ht_check_ranges(const struct ht_nr_range *r, u32 count)
{
	u32 i;

	if (count > HT_MAX_NR_RANGES)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		if (r[i].lo > r[i].hi)
			return -EINVAL;
		if (i && r[i].lo <= r[i - 1].hi)
			return -EINVAL;
	}
	return 0;
}

static int ht_check_filter(const struct ht_filter *f)
{
	if (f->reason_mode != HT_REASON_ANY &&
	    f->reason_mode != HT_REASON_HYPERCALL_ONLY)
		return -EINVAL;
	if (f->reserved || (f->abi_none & ~((1u << HT_ABI_COUNT) - 1)))
		return -EINVAL;
	if (ht_check_ranges(f->nr_ranges, f->nr_range_count) ||
	    ht_check_ranges(f->hv_ranges, f->hv_range_count) ||
	    ht_check_ranges(f->xen_ranges, f->xen_range_count))
		return -EINVAL;
	return 0;
}

static long ht_set_config(const struct ht_ioc_config *c)
{
	struct ht_kring *rb;
	int ret;

	if (ht_running)
		return -EBUSY;
	if (c->flags & ~HT_CONFIG_F_ALL)
		return -EINVAL;
	if (c->ring_bytes < HT_KRING_MIN_BYTES ||
	    c->ring_bytes > HT_KRING_MAX_BYTES ||
	    !is_power_of_2(c->ring_bytes) || c->ring_bytes < PAGE_SIZE)
		return -EINVAL;
	ret = ht_check_filter(&c->filter);
	if (ret)
		return ret;
	if (ht_cfg.ring && ht_cfg.ring->data_bytes != c->ring_bytes)
		return -EBUSY; /* the ring may be mapped: fixed per open */
	if ((c->flags & HT_CONFIG_F_AGGREGATE) && !ht_cfg.agg) {
		/* Kept until release: a take after STOP reads it. */
		ht_cfg.agg = ht_kagg_alloc();
		if (!ht_cfg.agg)
			return -ENOMEM;
	}
	if (!ht_cfg.ring) {
		rb = ht_kring_alloc(c->ring_bytes);
		if (!rb)
			return -ENOMEM;
		smp_store_release(&ht_cfg.ring, rb); /* ht_poll, ht_mmap */
	}
	ht_cfg.filter = c->filter;
	ht_cfg.flags = c->flags;
	ht_configured = true;
	return 0;
}

static long ht_set_reason(const struct ht_ioc_reason *r)
{
	if (ht_running)
		return -EBUSY;
	if (r->reserved)
		return -EINVAL;
	if (r->isa == HT_ISA_UNKNOWN) {
		memset(&ht_cfg.reason, 0, sizeof(ht_cfg.reason));
		return 0;
	}
	if (r->isa != HT_ISA_SVM && r->isa != HT_ISA_VMX)
		return -EINVAL;
	if (r->reason_size != 4 && r->reason_size != 8)
		return -EINVAL;
	if (r->vcpu_off >= HT_REASON_MAX_OFF ||
	    r->reason_off >= HT_REASON_MAX_OFF ||
	    !IS_ALIGNED(r->vcpu_off, sizeof(long)) ||
	    !IS_ALIGNED(r->reason_off, r->reason_size))
		return -EINVAL;
	if (r->ptr_off != HT_REASON_NO_PTR &&
	    (r->ptr_off >= HT_REASON_MAX_OFF ||
	     !IS_ALIGNED(r->ptr_off, sizeof(void *))))
		return -EINVAL;
	ht_cfg.reason = *r;
	return 0;
}

static long ht_start(const struct ht_ioc_start *s)
{
	u32 exit_proto = s->exit_proto, entry_proto = s->entry_proto;
	u32 g_exit, g_entry, g_src;
	int ret;

	if (ht_running)
		return -EBUSY;
	if (!ht_configured)
		return -EINVAL;
	if (s->flags || s->reserved || s->hv_proto >= HT_HV_PROTO_MAX ||
	    s->xen_proto >= HT_XEN_PROTO_MAX)
		return -EINVAL;
	if (exit_proto >= HT_EXIT_PROTO_MAX ||
	    entry_proto >= HT_ENTRY_PROTO_MAX)
		return -EINVAL;
	/* kvm_entry(vcpu_id) is <= 5.9's, older than the module (compat.h). */
	if (entry_proto == HT_ENTRY_PROTO_VCPU_ID)
		return -EINVAL;
	ht_guess_protos(&g_exit, &g_entry, &g_src);
	if (exit_proto == HT_EXIT_PROTO_AUTO)
		exit_proto = g_exit;
	if (entry_proto == HT_ENTRY_PROTO_AUTO)
		entry_proto = g_entry;
	if (exit_proto == HT_EXIT_PROTO_AUTO ||
	    entry_proto == HT_ENTRY_PROTO_AUTO)
		return -ENOPKG; /* no guess here: userspace must say */

	ht_cfg.exit_proto = exit_proto;
	ht_cfg.entry_proto = entry_proto;
	ht_cfg.hv_proto = s->hv_proto;
	ht_cfg.xen_proto = s->xen_proto;
	ht_state_reset();
	if (ht_cfg.agg)
		ht_kagg_reset(ht_cfg.agg);
	ret = ht_attach_start();
	if (ret)
		return ret;
	ht_running = true;
	return 0;
}

static void ht_get_info(struct ht_ioc_info *info)
{
	memset(info, 0, sizeof(*info));
	info->interface_version = HT_IOCTL_VERSION;
	info->record_version = HT_RECORD_VERSION;
	info->record_size = sizeof(struct ht_record);
	info->page_size = PAGE_SIZE;
	ht_guess_protos(&info->guess_exit_proto, &info->guess_entry_proto,
			&info->guess_source);
	info->state_slots = ht_state_slots();
	info->agg_keys = ht_agg_keys();
	strscpy(info->kernel_release, UTS_RELEASE,
		sizeof(info->kernel_release));
}

static void ht_get_counters(struct ht_ioc_counters *c)
{
	int cpu, i;

	memset(c, 0, sizeof(*c));
	for_each_possible_cpu (cpu) {
		const struct ht_pcpu_counters *pc = per_cpu_ptr(&ht_counters,
								cpu);

		for (i = 0; i < HT_CNT_MAX; i++)
			c->c[i] += READ_ONCE(pc->c[i]);
	}
}

static void ht_get_status(struct ht_ioc_status *st)
{
	memset(st, 0, sizeof(*st));
	ht_attach_status(st);
	st->running = ht_running;
	st->exit_proto = ht_cfg.exit_proto;
	st->entry_proto = ht_cfg.entry_proto;
	st->reason_isa = ht_cfg.reason.isa;
	st->ring_bytes = ht_cfg.ring ? ht_cfg.ring->data_bytes : 0;
}

/* The commands by number: a known number with another size is EINVAL. */
static const unsigned int ht_cmds[] = {
	HT_IOC_VERSION,	     HT_IOC_INFO,	HT_IOC_SET_CONFIG,
	HT_IOC_SET_REASON,   HT_IOC_START,	HT_IOC_STOP,
	HT_IOC_GET_COUNTERS, HT_IOC_GET_STATUS, HT_IOC_AGG_TAKE,
};

union ht_ioc_arg {
	u32 version;
	struct ht_ioc_info info;
	struct ht_ioc_config config;
	struct ht_ioc_reason reason;
	struct ht_ioc_start start;
	struct ht_ioc_counters counters;
	struct ht_ioc_status status;
	struct ht_ioc_agg_take agg_take;
};

static long ht_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	unsigned int size = _IOC_SIZE(cmd);
	union ht_ioc_arg *a;
	long ret;

	if (_IOC_TYPE(cmd) != HT_IOCTL_MAGIC ||
	    _IOC_NR(cmd) >= ARRAY_SIZE(ht_cmds))
		return -ENOTTY;
	if (cmd != ht_cmds[_IOC_NR(cmd)])
		return -EINVAL; /* wrong size or direction */

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(a, uarg, size)) {
		ret = -EFAULT;
		goto out;
	}

	mutex_lock(&ht_dev_mutex);
	switch (cmd) {
	case HT_IOC_VERSION:
		a->version = HT_IOCTL_VERSION;
		ret = 0;
		break;
	case HT_IOC_INFO:
		ht_get_info(&a->info);
		ret = 0;
		break;
	case HT_IOC_SET_CONFIG:
		ret = ht_set_config(&a->config);
		break;
	case HT_IOC_SET_REASON:
		ret = ht_set_reason(&a->reason);
		break;
	case HT_IOC_START:
		ret = ht_start(&a->start);
		break;
	case HT_IOC_STOP:
		ht_stop_locked();
		ret = 0;
		break;
	case HT_IOC_GET_COUNTERS:
		ht_get_counters(&a->counters);
		ret = 0;
		break;
	case HT_IOC_GET_STATUS:
		ht_get_status(&a->status);
		ret = 0;
		break;
	case HT_IOC_AGG_TAKE:
		if (!ht_configured || !(ht_cfg.flags & HT_CONFIG_F_AGGREGATE))
			ret = -EINVAL;
		else
			ret = ht_kagg_take(ht_cfg.agg, &a->agg_take,
					   ht_running);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&ht_dev_mutex);

	if (!ret && (_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(uarg, a, size))
		ret = -EFAULT;
out:
	kfree(a);
	return ret;
}

/* Called with mmap_lock held: no ht_dev_mutex here (lock order above). */
static int ht_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ht_kring *rb = smp_load_acquire(&ht_cfg.ring);

	return rb ? ht_kring_mmap(rb, vma) : -EINVAL;
}

static __poll_t ht_poll(struct file *file, poll_table *pt)
{
	struct ht_kring *rb = smp_load_acquire(&ht_cfg.ring);

	/* The ring lives until release, which cannot run during poll. */
	if (!rb)
		return EPOLLERR;
	poll_wait(file, &rb->waitq, pt);
	return ht_kring_has_data(rb) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations ht_fops = {
	.owner = THIS_MODULE,
	.open = ht_open,
	.release = ht_release,
	.unlocked_ioctl = ht_ioctl,
	.compat_ioctl = ht_ioctl, /* every struct has one layout */
	.mmap = ht_mmap,
	.poll = ht_poll,
};

static struct miscdevice ht_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = HT_DEVICE_NAME,
	.fops = &ht_fops,
	.mode = 0600,
};

static int __init ht_init(void)
{
	int ret;

	ret = ht_agg_param_check();
	if (ret)
		return ret;
	ret = ht_state_init();
	if (ret)
		return ret;
	ret = misc_register(&ht_misc);
	if (ret) {
		ht_state_exit();
		return ret;
	}
	return 0;
}

static void __exit ht_exit(void)
{
	/* No open file (it pins the module): nothing is attached. */
	misc_deregister(&ht_misc);
	ht_state_exit();
}

module_init(ht_init);
module_exit(ht_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("hypertrace");
MODULE_DESCRIPTION("Trace KVM hypercalls (hypertrace kernel-module backend)");
MODULE_VERSION("0.1.0");
