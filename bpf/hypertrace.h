/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Configuration shared by hypertrace.bpf.c and its loader (bpf_backend.cpp),
 * in the spirit of libbpf-tools' <tool>.h: what the loader sets before load.
 */
#ifndef HYPERTRACE_BPF_H
#define HYPERTRACE_BPF_H

/*
 * Per-thread state storage.  Task local storage (5.11+ for tracing programs)
 * is freed with the task and costs no hash update; the LRU hash keyed by tid
 * is the fallback for kernels without it.  The loader enables exactly one set
 * of programs (see bpf_backend.cpp: choose_state_storage()).
 */
#define HT_STATE_LRU_ENTRIES 16384

#endif /* HYPERTRACE_BPF_H */
