/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The ring protocol: the BPF ring buffer's (kernel/bpf/ringbuf.c), written
 * down once.  The module reproduces it byte for byte, so the single reader in
 * userspace serves both backends.
 *
 * mmap layout of the ring fd (page = the kernel's PAGE_SIZE):
 *   [0, page)                 consumer page: __u64 consumer_pos at offset 0.
 *                             Mapped read-write; only the reader writes it.
 *   [page, 2*page)            producer page: __u64 producer_pos at offset 0.
 *                             Mapped read-only.
 *   [2*page, 2*page + 2*size) data area of `size` bytes (a power of two, a
 *                             multiple of the page), mapped twice back to back
 *                             so a record that wraps reads contiguously.
 *
 * Each record: an 8-byte header then the payload, the whole rounded up to 8.
 *   len     payload length, with HT_RING_BUSY_BIT while the producer still
 *           writes it and HT_RING_DISCARD_BIT if it was abandoned;
 *   pg_off  the header's distance, in pages, from the start of the producer's
 *           ring object (the kernel uses it to find the ring on commit;
 *           readers ignore it).
 * Positions are free-running byte counters; offset = pos & (size - 1).
 *
 * Producer: reserves at producer_pos (never trusting consumer_pos beyond
 * "is there room": pos - consumer_pos + rec <= size), writes the header with
 * BUSY, publishes producer_pos with release order, fills, then clears BUSY
 * with release order.
 *
 * Wakeups are batched (hypertrace's rule, both backends): after committing,
 * a producer wakes the reader only if the unread data (producer_pos -
 * consumer_pos, this record included) has reached the wakeup mark,
 * size / HT_RING_WAKEUP_FRACTION.  Below the mark the reader finds the records
 * on its own periodic drain, at most HT_RING_POLL_MS later.  A wakeup is an
 * irq_work (a self-IPI) plus a reader context switch onto a CPU that runs
 * vCPUs: per record it was the largest cost of emitting one.  A reader must
 * still re-check the ring after publishing consumer_pos and before sleeping.
 *
 * Reader: loads producer_pos with acquire, walks records from consumer_pos,
 * stops at a BUSY header (load acquire), skips DISCARD ones, and publishes
 * consumer_pos with release after each record.
 */
#ifndef HT_RING_H
#define HT_RING_H

#include "ht_types.h"

#define HT_RING_BUSY_BIT (1u << 31)
#define HT_RING_DISCARD_BIT (1u << 30)
#define HT_RING_HDR_SZ 8u
#define HT_RING_WAKEUP_FRACTION 8u
#define HT_RING_POLL_MS 20u

struct ht_ring_hdr {
	__u32 len;
	__u32 pg_off;
};

HT_STATIC_ASSERT(sizeof(struct ht_ring_hdr) == HT_RING_HDR_SZ,
		 "ring header is 8 bytes");

/* Bytes a record of payload `len` occupies in the data area. */
HT_INLINE __u32 ht_ring_record_span(__u32 len)
{
	return (len + HT_RING_HDR_SZ + 7u) & ~7u;
}

#endif /* HT_RING_H */
