/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The ioctl ABI of /dev/hypertrace (kmod/, the kernel-module backend), shared
 * by the module and userspace/backend/kmod_backend.cpp.
 *
 * Life of a session:
 *   open("/dev/hypertrace", O_RDWR)   root only: CAP_PERFMON or
 *                                     CAP_SYS_ADMIN, and the node is 0600;
 *                                     one open at a time: a second open
 *                                     gets EBUSY
 *   HT_IOC_VERSION                    interface handshake: refuse a module
 *                                     whose HT_IOCTL_VERSION differs
 *   HT_IOC_INFO                       page size, compile-time prototype guess
 *   HT_IOC_SET_CONFIG                 filter + ring size (allocates the ring;
 *                                     the size is fixed once the ring exists)
 *                                     + flags: HT_CONFIG_F_AGGREGATE selects
 *                                     summary mode (statistics, no records)
 *   HT_IOC_SET_REASON                 where the exit reason lives (>= 5.16)
 *   mmap                              common/ht_ring.h layout
 *   HT_IOC_START                      attach to kvm_exit/kvm_hypercall/
 *                                     kvm_entry with the given prototypes
 *                                     (a wrong one corrupts: read them from
 *                                     BTF); succeeds even when kvm is not
 *                                     loaded: read GET_STATUS.attached
 *   poll/read the ring, HT_IOC_GET_COUNTERS, HT_IOC_GET_STATUS
 *   HT_IOC_AGG_TAKE                   summary mode: take the statistics
 *                                     gathered so far (also after STOP)
 *   HT_IOC_STOP                       detach; the ring stays readable
 *   close                             detach, free everything
 *
 * Errors, the complete list (tests/vm/kmod/kmod_fuzz.cpp holds the module
 * to it):
 *   open     EPERM   the caller has neither CAP_PERFMON nor CAP_SYS_ADMIN,
 *                    whatever the device node's mode allows
 *            EBUSY   the device is open (or still mapped) elsewhere
 *   ioctl    ENOTTY  unknown command
 *            EINVAL  a known command number with another size or direction;
 *                    an out-of-range field; a non-zero reserved field (so
 *                    they can be given a meaning later without a version
 *                    bump); START before SET_CONFIG; START with
 *                    HT_ENTRY_PROTO_VCPU_ID (<= 5.9, below the module's
 *                    minimum, kmod/compat.h); AGG_TAKE outside summary mode
 *            EFAULT  bad pointer (the argument, or AGG_TAKE's entries)
 *            EBUSY   SET_CONFIG, SET_REASON or START while running;
 *                    SET_CONFIG with another ring size once the ring exists
 *            ENOPKG  START with an AUTO prototype and no compile-time guess
 *            ENOMEM  no memory for the argument, the ring, the summary
 *                    tables (SET_CONFIG) or attaching (START)
 *   mmap     EINVAL  before SET_CONFIG; offset or length outside the ring
 *                    (and the kernel's own checks: zero length, ...)
 *            EPERM   writable, other than the consumer page alone
 *            EACCES, ENOMEM, EOVERFLOW  from the kernel's mmap checks
 *   mprotect EACCES  making a read-only mapping writable
 * Nothing else.
 *
 * Any change to a struct here or to the meaning of a command bumps
 * HT_IOCTL_VERSION; HT_IOC_VERSION itself never changes.  Version 2: summary
 * mode (ht_ioc_config.flags, was reserved; HT_IOC_AGG_TAKE; info.agg_keys).
 * Version 3: HT_CNT_IN_FLIGHT (ht_ioc_counters has one more counter).
 * Version 4: record version 2 (ABIs, VMM-served split: the ring's records
 * are larger), HT_ATTACHED_USERSPACE_EXIT and _HV_* in the status, per-ABI
 * number ranges in the filter (hv_*, xen_*, abi_none), ht_ioc_start.hv_proto
 * (was reserved), --summary keys by ABI and sums the VMM part.
 * Version 5: Xen hypercalls: ht_ioc_start.xen_proto (ht_ioc_start grows by
 * xen_proto and a reserved word), HT_ATTACHED_XEN_HYPERCALL.
 */
#ifndef HT_IOCTL_H
#define HT_IOCTL_H

#include "ht_types.h"
#include "ht_config.h"
#include "ht_record.h"
#include "ht_hist.h"

#if defined(__KERNEL__)
#include <linux/ioctl.h>
#else
#include <sys/ioctl.h>
#endif

#define HT_DEVICE_NAME "hypertrace"
#define HT_DEVICE_PATH "/dev/hypertrace"
#define HT_KMOD_PACKAGE "hypertrace-dkms"

#define HT_IOCTL_VERSION 5
#define HT_IOCTL_MAGIC 0xB8

/* Ring data area bounds (bytes); the size must also be a power of two and a
 * multiple of the kernel's page size. */
#define HT_KRING_MIN_BYTES (1u << 12)
#define HT_KRING_MAX_BYTES (1u << 28)

/*
 * Tracepoint prototypes (TRACE_EVENT(kvm_exit), kvm_entry in
 * arch/x86/kvm/trace.h; they changed in 5.10, 5.16 and 6.9).  Probes are passed to the kernel
 * as void *, so the module must be told which one the running kernel has:
 * userspace reads them from the kvm module's BTF (btf_trace_kvm_exit,
 * btf_trace_kvm_entry).  HT_*_PROTO_AUTO asks the module to use its
 * compile-time guess (see HT_IOC_INFO), for kernels without module BTF.
 */
enum ht_exit_proto {
	HT_EXIT_PROTO_AUTO = 0,
	/* (unsigned int exit_reason, vcpu, u32 isa): <= 5.15 */
	HT_EXIT_PROTO_REASON_VCPU_ISA = 1,
	HT_EXIT_PROTO_VCPU_ISA = 2, /* (vcpu, u32 isa): >= 5.16, RHEL 8.7+ */
	HT_EXIT_PROTO_MAX,
};

enum ht_entry_proto {
	HT_ENTRY_PROTO_AUTO = 0,
	HT_ENTRY_PROTO_VCPU_ID = 1,    /* (unsigned vcpu_id): <= 5.9 */
	HT_ENTRY_PROTO_VCPU = 2,       /* (vcpu): 5.10 .. 6.8 */
	HT_ENTRY_PROTO_VCPU_FORCE = 3, /* (vcpu, bool force_immediate_exit):
					    * 6.9+, 6.6-stable, Debian 6.1.192 */
	HT_ENTRY_PROTO_MAX,
};

/* HT_IOC_INFO.guess_source: where the compile-time guess came from. */
enum ht_guess_source {
	HT_GUESS_NONE = 0,    /* no guess: userspace must say */
	HT_GUESS_VERSION = 1, /* kernel version alone (last resort) */
	HT_GUESS_HEADERS = 2, /* version + a clue in kvm_x86_ops */
};

struct ht_ioc_info {
	__u32 interface_version; /* HT_IOCTL_VERSION */
	__u32 record_version;	 /* HT_RECORD_VERSION */
	__u32 record_size;	 /* sizeof(struct ht_record) */
	__u32 page_size;	 /* the kernel's PAGE_SIZE */
	__u32 guess_exit_proto;	 /* enum ht_exit_proto, AUTO if none */
	__u32 guess_entry_proto; /* enum ht_entry_proto, AUTO if none */
	__u32 guess_source;	 /* enum ht_guess_source */
	__u32 state_slots;	 /* per-thread state table capacity */
	char kernel_release[64]; /* UTS_RELEASE the module was built for */
	__u32 agg_keys;		 /* summary mode: (pid, nr) keys per interval */
	__u32 reserved;		 /* zero */
};

/* ht_ioc_config.flags */
/* summary mode: kvm_entry adds to per (tgid, nr) statistics
 * (HT_IOC_AGG_TAKE) instead of writing a record */
#define HT_CONFIG_F_AGGREGATE (1u << 0)
#define HT_CONFIG_F_ALL HT_CONFIG_F_AGGREGATE

struct ht_ioc_config {
	__u32 ring_bytes;	 /* data area size, see HT_KRING_*_BYTES */
	__u32 flags;		 /* HT_CONFIG_F_*, others EINVAL */
	struct ht_filter filter; /* validated: see ht_ioctl.h header comment */
};

/*
 * Where kvm_exit's reason is on >= 5.16 (HT_EXIT_PROTO_VCPU_ISA), as offsets
 * userspace read from the vendor module's BTF:
 *   vendor = (void *)vcpu - vcpu_off        container of struct kvm_vcpu
 *   SVM:   p = *(void **)(vendor + ptr_off)  vcpu_svm.vmcb
 *          reason = *(p + reason_off)        vmcb.control.exit_code
 *   VMX:   ptr_off = HT_REASON_NO_PTR
 *          reason = *(vendor + reason_off)   vcpu_vmx.exit_reason.full
 * reason_size is 4 or 8 (the low 32 bits are recorded, as the trace event
 * does).  isa = HT_ISA_UNKNOWN clears the setting: records then carry
 * HT_REC_F_REASON_UNKNOWN.  Reads use copy_from_kernel_nofault().
 */
#define HT_REASON_NO_PTR 0xffffffffu
#define HT_REASON_MAX_OFF (1u << 16)

struct ht_ioc_reason {
	__u32 isa; /* enum ht_isa: the isa the kvm_exit probe must see */
	__u32 vcpu_off;
	__u32 ptr_off; /* or HT_REASON_NO_PTR */
	__u32 reason_off;
	__u32 reason_size; /* 4 or 8 */
	__u32 reserved;	   /* zero */
};

/*
 * kvm_hv_hypercall's prototype (arch/x86/kvm/trace.h), which userspace reads
 * from the event's format file: var_cnt came in 5.17.  NONE: do not attach
 * it (nor kvm_hv_hypercall_done).
 */
enum ht_hv_proto {
	HT_HV_PROTO_NONE = 0,
	/* (u16 code, bool fast, u16 rep_cnt, u16 rep_idx, u64 ingpa,
	 *  u64 outgpa): <= 5.16 */
	HT_HV_PROTO_NO_VAR_CNT = 1,
	/* (u16 code, bool fast, u16 var_cnt, u16 rep_cnt, u16 rep_idx,
	 *  u64 ingpa, u64 outgpa): 5.17+ */
	HT_HV_PROTO_VAR_CNT = 2,
	HT_HV_PROTO_MAX,
};

/*
 * kvm_xen_hypercall's prototype (arch/x86/kvm/trace.h, 5.12+, added with
 * the intercept), which userspace reads from the event's format file (a
 * cpl field means the prototype that starts with it) and attaches only
 * where KVM can send a guest's hypercalls to it (KVM_CAP_XEN_HVM with
 * KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL: CONFIG_KVM_XEN).  NONE: do not
 * attach.
 */
enum ht_xen_proto {
	HT_XEN_PROTO_NONE = 0,
	/* (unsigned long nr, a0, a1, a2, a3, a4, a5) */
	HT_XEN_PROTO_NR = 1,
	/* (u8 cpl, unsigned long nr, a0, a1, a2, a3, a4, a5) */
	HT_XEN_PROTO_CPL = 2,
	HT_XEN_PROTO_MAX,
};

struct ht_ioc_start {
	__u32 exit_proto;  /* enum ht_exit_proto */
	__u32 entry_proto; /* enum ht_entry_proto */
	__u32 flags;	   /* zero */
	__u32 hv_proto;	   /* enum ht_hv_proto (was reserved: zero = none) */
	__u32 xen_proto;   /* enum ht_xen_proto (version 5) */
	__u32 reserved;	   /* zero */
};

struct ht_ioc_counters {
	__u64 c[HT_CNT_MAX]; /* enum ht_counter, summed over CPUs */
};

/* HT_IOC_GET_STATUS.attached bits */
#define HT_ATTACHED_EXIT (1u << 0)
#define HT_ATTACHED_HYPERCALL (1u << 1)
#define HT_ATTACHED_ENTRY (1u << 2)
#define HT_ATTACHED_ALL 7u /* the three tracing needs */
/* Optional, attached where kvm has it: the VMM-served split. */
#define HT_ATTACHED_USERSPACE_EXIT (1u << 3)
#define HT_ATTACHED_HV_HYPERCALL (1u << 4)
#define HT_ATTACHED_HV_HYPERCALL_DONE (1u << 5)
#define HT_ATTACHED_XEN_HYPERCALL (1u << 6)

struct ht_ioc_status {
	__u32 running;	    /* between START and STOP */
	__u32 attached;	    /* HT_ATTACHED_* now */
	__u32 attach_count; /* times all three got attached since START */
	__u32 attach_errors;
	__u32 exit_proto;  /* resolved, enum ht_exit_proto */
	__u32 entry_proto; /* resolved, enum ht_entry_proto */
	__u32 reason_isa;  /* from SET_REASON, HT_ISA_UNKNOWN if none */
	__u32 ring_bytes;  /* 0 before SET_CONFIG */
};

/*
 * HT_IOC_AGG_TAKE (summary mode only, else EINVAL): the statistics gathered
 * since the previous take (or START), lossless.  The module keeps two
 * generations of a table of up to agg_keys (HT_IOC_INFO) keys; a take makes
 * probes write the other generation, waits until no probe still writes the
 * old one (an RCU grace period; none when stopped), copies the old one out
 * and clears it.  Entries that do not fit in `capacity` stay in the old
 * generation (`remaining` says how many): call again before the statistics
 * of the next interval are taken (the next call continues the drain and does
 * not switch generations).  On EFAULT nothing is cleared: the same entries
 * are returned by the next call.  Each key appears at most once per drain;
 * count > 0 for every entry.  START clears both generations.
 */
struct ht_ioc_agg_entry {
	struct ht_agg_key key;
	struct ht_agg_value value;
};

struct ht_ioc_agg_take {
	__u64 entries;	 /* in: user address of capacity ht_ioc_agg_entry */
	__u32 capacity;	 /* in: >= 1 */
	__u32 flags;	 /* in: zero */
	__u32 count;	 /* out: entries written */
	__u32 remaining; /* out: entries of this interval not yet taken */
	__u64 reserved;	 /* zero */
};

#define HT_IOC_VERSION _IOR(HT_IOCTL_MAGIC, 0x00, __u32)
#define HT_IOC_INFO _IOR(HT_IOCTL_MAGIC, 0x01, struct ht_ioc_info)
#define HT_IOC_SET_CONFIG _IOW(HT_IOCTL_MAGIC, 0x02, struct ht_ioc_config)
#define HT_IOC_SET_REASON _IOW(HT_IOCTL_MAGIC, 0x03, struct ht_ioc_reason)
#define HT_IOC_START _IOW(HT_IOCTL_MAGIC, 0x04, struct ht_ioc_start)
#define HT_IOC_STOP _IO(HT_IOCTL_MAGIC, 0x05)
#define HT_IOC_GET_COUNTERS _IOR(HT_IOCTL_MAGIC, 0x06, struct ht_ioc_counters)
#define HT_IOC_GET_STATUS _IOR(HT_IOCTL_MAGIC, 0x07, struct ht_ioc_status)
#define HT_IOC_AGG_TAKE _IOWR(HT_IOCTL_MAGIC, 0x08, struct ht_ioc_agg_take)

HT_STATIC_ASSERT(sizeof(struct ht_ioc_info) == 104, "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_config) == 8 + sizeof(struct ht_filter),
		 "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_reason) == 24, "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_start) == 24, "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_status) == 32, "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_agg_entry) ==
			 16 + sizeof(struct ht_agg_value),
		 "ioctl ABI");
HT_STATIC_ASSERT(sizeof(struct ht_ioc_agg_take) == 32, "ioctl ABI");

/*
 * pg_off written in each record header: like the BPF ring buffer, the
 * distance in pages from the start of the ring object, which there is one
 * metadata page, then the consumer and producer pages, then the data.
 */
#define HT_KRING_PGOFF_BASE 3u

#endif /* HT_IOCTL_H */
