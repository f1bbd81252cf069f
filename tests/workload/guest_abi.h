/* Shared between guest.S and hcgen.c: guest memory layout and stub ABI. */
#ifndef HCGEN_GUEST_ABI_H
#define HCGEN_GUEST_ABI_H

/* Guest physical memory: one slot, [0, HC_MEM_SIZE). */
#define HC_MEM_SIZE 0x100000
#define HC_CODE_BASE 0x1000 /* the stub blob is copied here (CS base 0) */
#define HC_CODE_MAX 0xf000
#define HC_WIN_BASE 0x10000 /* schedule windows, one per vCPU */
#define HC_WIN_AREA 0x80000 /* 0x10000 .. 0x90000 */
#define HC_WIN_MAX 0x8000   /* at most 32 KiB (1024 entries) per vCPU */

/* Loop mode data (DS = 0). */
#define HC_LOOP_NR1 0x0800
#define HC_LOOP_NR2 0x0804
#define HC_LOOP_EXP1 0x0808
#define HC_LOOP_EXP2 0x080c

#define HC_PROBE_EAX 0x68636770 /* 'hcgp' */

/* Ports. */
#define HC_PORT_DONE 0x10
#define HC_PORT_NOISE 0x11

/* Schedule entry layout. */
#define HC_ENT_NR 0
#define HC_ENT_A0 4
#define HC_ENT_A1 8
#define HC_ENT_A2 12
#define HC_ENT_A3 16
#define HC_ENT_RET 20
#define HC_ENT_NOISE 24
#define HC_ENT_KIND 28
#define HC_ENT_SIZE 32

#define HC_NOISE_OUT 0
#define HC_NOISE_HLT 1
#define HC_NOISE_MIX 2

#endif
