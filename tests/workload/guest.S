/*
 * hcgen guest code: 16-bit real-mode stubs, assembled here and copied into
 * guest memory at run time (the blob between hc_guest_start and hc_guest_end
 * is position independent: only relative jumps, data through DS).
 *
 * Real-mode hypercall ABI seen by KVM (is_64_bit_hypercall() is false, so
 * KVM truncates everything to 32 bits):
 *   nr = eax, a0 = ebx, a1 = ecx, a2 = edx, a3 = esi, return value -> eax.
 *
 * Ports used to talk to the host (each OUT is a KVM_EXIT_IO to userspace):
 *   HC_PORT_DONE  (0x10): a schedule chunk is complete
 *   HC_PORT_NOISE (0x11): a noise exit
 */
#include "guest_abi.h"

	.section .rodata.hcgen_guest, "a"
	.code16

	.globl hc_guest_start
hc_guest_start:

/*
 * Probe: proves that the vCPU really executes 16-bit real-mode code, then
 * HLTs (KVM_EXIT_HLT without an in-kernel irqchip).  Decoded as 32/64-bit
 * code the same bytes give different register values, which the host checks:
 * EAX = HC_PROBE_EAX, EBX = (CS << 16) | DS (both 0 in the probe VM layout
 * for CS; DS = the vCPU's window selector).
 */
	.globl hc_probe
hc_probe:
	movl	$HC_PROBE_EAX, %eax
	movw	%cs, %bx
	shll	$16, %ebx
	movw	%ds, %bx
	hlt
	.globl hc_probe_end
hc_probe_end:
	jmp	hc_probe_end

/*
 * Schedule mode.  DS = this vCPU's window, DI = 0, BP = number of entries in
 * the window (>= 1).  Each entry (HC_ENT_SIZE bytes):
 *   +0 nr  +4 a0  +8 a1  +12 a2  +16 a3  +20 ret (written by the guest)
 *   +24 noise count  +28 noise kind (0 out, 1 hlt, 2 mix)
 * After each hypercall the guest stores EAX, then makes <noise count> exits
 * (OUT to HC_PORT_NOISE or HLT), and goes on with the next entry.  When the
 * window is used up it does OUT to HC_PORT_DONE; the host refills the
 * window and restarts the stub.
 */
.macro SCHED name, insn
	.globl \name
\name:
1:	movl	HC_ENT_NR(%di), %eax
	movl	HC_ENT_A0(%di), %ebx
	movl	HC_ENT_A1(%di), %ecx
	movl	HC_ENT_A2(%di), %edx
	movl	HC_ENT_A3(%di), %esi
	\insn
	movl	%eax, HC_ENT_RET(%di)
	movl	HC_ENT_NOISE(%di), %ecx
2:	testl	%ecx, %ecx
	jz	5f
	movl	HC_ENT_KIND(%di), %edx
	cmpl	$HC_NOISE_HLT, %edx
	je	4f
	cmpl	$HC_NOISE_MIX, %edx
	jne	3f
	testb	$1, %cl
	jz	4f
3:	outb	%al, $HC_PORT_NOISE
	jmp	6f
4:	hlt
6:	decl	%ecx
	jmp	2b
5:	addw	$HC_ENT_SIZE, %di
	decw	%bp
	jnz	1b
	outb	%al, $HC_PORT_DONE
7:	hlt
	jmp	7b
.endm

	SCHED	hc_sched_vmmcall, vmmcall
	SCHED	hc_sched_vmcall, vmcall

/*
 * Loop mode.  DS = 0, EDI = N (>= 1), ECX/EDX/ESI = a1..a3, EBP = 0.
 * nr for odd-numbered calls (1st, 3rd, ...) at HC_LOOP_NR1, for even-numbered
 * ones at HC_LOOP_NR2 (the same number unless --alt); the expected return
 * values at HC_LOOP_EXP1/EXP2.  a0 = the remaining count (N, N-1, ..., 1).
 * EBP counts returns that differ from the expected value.  All N calls run
 * inside one KVM_RUN; the final HLT returns to userspace with EDI = 0.
 */
.macro LOOP name, insn
	.globl \name
\name:
1:	movl	%edi, %ebx
	movl	HC_LOOP_NR1, %eax
	\insn
	cmpl	HC_LOOP_EXP1, %eax
	je	2f
	incl	%ebp
2:	decl	%edi
	jz	4f
	movl	%edi, %ebx
	movl	HC_LOOP_NR2, %eax
	\insn
	cmpl	HC_LOOP_EXP2, %eax
	je	3f
	incl	%ebp
3:	decl	%edi
	jnz	1b
4:	hlt
	jmp	4b
.endm

	LOOP	hc_loop_vmmcall, vmmcall
	LOOP	hc_loop_vmcall, vmcall

	.globl hc_guest_end
hc_guest_end:

	.section .note.GNU-stack, "", @progbits
