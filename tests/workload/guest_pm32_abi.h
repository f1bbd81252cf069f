/*
 * Shared between guest_pm32.S and hcgen_pm32.c: the 32-bit protected-mode
 * guest of the hyperv, xen and forward modes (memory above guest_abi.h's
 * schedule windows, inside its one memory slot).
 */
#ifndef HCGEN_GUEST_PM32_ABI_H
#define HCGEN_GUEST_PM32_ABI_H

#define PM_CODE_BASE 0x90000 /* guest_pm32.S's blob (flat CS, base 0) */
#define PM_CODE_MAX 0x1000
#define PM_PAGE_PTR 0x91000   /* u32: where "call *PM_PAGE_PTR" goes */
#define PM_STACK_BASE 0x92000 /* PM_STACK_SIZE bytes per vCPU */
#define PM_STACK_SIZE 0x100
#define PM_HV_PAGE 0x97000 /* the Hyper-V hypercall page (KVM fills it) */
#define PM_IO_BASE 0xa0000 /* per vCPU: an input page, an output page */
#define PM_IO_SIZE 0x2000
#define PM_MAX_VCPUS 16 /* PM_IO_BASE + 16 * PM_IO_SIZE = 0xc0000 */

/* Segment selectors the host loads (no GDT in memory: nothing reloads). */
#define PM_SEL_CODE 0x08
#define PM_SEL_DATA 0x10

/* One call (PM_ENT_SIZE bytes, in the schedule windows of guest_abi.h):
 * the seven registers loaded before the call, then what came back. */
#define PM_ENT_EAX 0
#define PM_ENT_EBX 4
#define PM_ENT_ECX 8
#define PM_ENT_EDX 12
#define PM_ENT_ESI 16
#define PM_ENT_EDI 20
#define PM_ENT_EBP 24
#define PM_ENT_OUT_EAX 28
#define PM_ENT_OUT_EDX 32
#define PM_ENT_SIZE 48

#endif
