/*
 * hcgen guest code for the hyperv, xen and forward modes: 32-bit protected
 * mode at CPL0, flat segments, no paging.  Hyper-V hypercalls need it:
 * kvm_hv_hypercall() (arch/x86/kvm/hyperv.c) injects #UD when the vCPU is
 * in real mode or above CPL0.  Copied into guest memory at PM_CODE_BASE;
 * position independent (relative jumps, absolute data addresses only).
 *
 * Each call loads EAX, EBX, ECX, EDX, ESI, EDI and EBP from its entry, which
 * covers the 32-bit forms of all three ABIs:
 *   KVM:     nr = EAX, a0..a3 = EBX, ECX, EDX, ESI           -> EAX
 *   Hyper-V: control = EDX:EAX, input GPA = EBX:ECX,
 *            output GPA = EDI:ESI                             -> EDX:EAX
 *   Xen:     nr = EAX, a0..a5 = EBX, ECX, EDX, ESI, EDI, EBP  -> EAX
 * and stores EAX and EDX back.  The entry's address is pushed 8 bytes below
 * the vCPU's stack top while the call runs (either way: the hypercall
 * page's return address goes below it): hcgen reads it there when a call
 * exits to userspace, to know which call the VMM is serving.
 *
 * Start: EDI = the first entry, EBP = the number of entries (>= 1),
 * ESP = the vCPU's stack top.  The end of the window: OUT to HC_PORT_DONE.
 */
#include "guest_abi.h"
#include "guest_pm32_abi.h"

	.section .rodata.hcgen_guest_pm32, "a"
	.code32

	.globl hc_pm32_start
hc_pm32_start:

/*
 * Probe: proves 32-bit protected mode (EBX = CS selector), then OUT to
 * HC_PORT_DONE (not HLT: with an in-kernel irqchip, hyperv --synic, KVM
 * would keep a halted vCPU in the kernel).
 */
	.globl hc_pm32_probe
hc_pm32_probe:
	movl	$HC_PROBE_EAX, %eax
	xorl	%ebx, %ebx
	movw	%cs, %bx
	outb	%al, $HC_PORT_DONE
	.globl hc_pm32_probe_end
hc_pm32_probe_end:
	jmp	hc_pm32_probe_end

.macro PM32 name, call:vararg
	.globl \name
\name:
1:	pushl	%ebp
	pushl	%edi
	movl	PM_ENT_EAX(%edi), %eax
	movl	PM_ENT_EBX(%edi), %ebx
	movl	PM_ENT_ECX(%edi), %ecx
	movl	PM_ENT_EDX(%edi), %edx
	movl	PM_ENT_ESI(%edi), %esi
	movl	PM_ENT_EBP(%edi), %ebp
	movl	PM_ENT_EDI(%edi), %edi
	\call
	popl	%edi
	movl	%eax, PM_ENT_OUT_EAX(%edi)
	movl	%edx, PM_ENT_OUT_EDX(%edi)
	popl	%ebp
	addl	$PM_ENT_SIZE, %edi
	decl	%ebp
	jnz	1b
	outb	%al, $HC_PORT_DONE
2:	hlt
	jmp	2b
.endm

	PM32	hc_pm32_vmmcall, vmmcall
	PM32	hc_pm32_vmcall, vmcall
	/* through the hypercall page, as Windows does: KVM wrote
	 * "vmmcall/vmcall; ret" there (kvm_hv_set_msr_pw()) */
	PM32	hc_pm32_page, call *(PM_PAGE_PTR)

	.globl hc_pm32_end
hc_pm32_end:

	.section .note.GNU-stack, "", @progbits
