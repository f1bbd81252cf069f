/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Fixed-width types and a static assertion that work in the three places
 * common/ is compiled: the BPF program (clang -target bpf), the kernel module
 * (Kbuild) and host userspace (C and C++).  <linux/types.h> is the one header
 * all three have, so everything shared is spelled in __u8 .. __u64.
 */
#ifndef HT_TYPES_H
#define HT_TYPES_H

#if defined(__KERNEL__)
#include <linux/types.h>
#elif defined(__bpf__)
#include <linux/types.h>
#else
#include <linux/types.h>
#endif

#ifdef __cplusplus
#define HT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define HT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define HT_OFFSETOF(type, member) __builtin_offsetof(type, member)

/* Compare-and-swap of a __u64, returning the old value (ht_vcpu_table.h).
 * BPF: BPF_CMPXCHG (5.12+, clang -mcpu=v3). */
#if defined(__KERNEL__)
#define HT_CMPXCHG64(p, o, n) cmpxchg((p), (o), (n))
#else
#define HT_CMPXCHG64(p, o, n) __sync_val_compare_and_swap((p), (o), (n))
#endif

#ifndef HT_INLINE
#if defined(__bpf__)
#define HT_INLINE static __attribute__((always_inline)) inline
#else
#define HT_INLINE static inline
#endif
#endif

#endif /* HT_TYPES_H */
