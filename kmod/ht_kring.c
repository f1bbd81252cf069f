// SPDX-License-Identifier: GPL-2.0
/*
 * The ring: common/ht_ring.h, i.e. kernel/bpf/ringbuf.c's protocol and mmap
 * layout, so userspace's one reader serves both backends.
 *
 * Memory: distinct pages [consumer][producer][data 0 .. n-1], vmapped as
 * [consumer][producer][data 0 .. n-1][data 0 .. n-1] so both the producer and
 * the reader see a wrapping record contiguously.  The vmap area is
 * VM_USERMAP and mapped to userspace with remap_vmalloc_range(), as ringbuf.c
 * does.  Only the consumer page may be mapped writable.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/irq_work.h>
#include <linux/poll.h>

#include "compat.h"
#include "ht_kmod.h"

static void ht_kring_wake(struct irq_work *work)
{
	struct ht_kring *rb = container_of(work, struct ht_kring, work);

	wake_up_all(&rb->waitq);
}

struct ht_kring *ht_kring_alloc(u32 data_bytes)
{
	unsigned int nr_data = data_bytes >> PAGE_SHIFT;
	unsigned int nr_pages = 2 + nr_data;
	struct page **map = NULL;
	struct ht_kring *rb;
	unsigned int i;

	rb = kzalloc(sizeof(*rb), GFP_KERNEL);
	if (!rb)
		return NULL;
	rb->pages = kvcalloc(nr_pages, sizeof(*rb->pages), GFP_KERNEL);
	map = kvcalloc(nr_pages + nr_data, sizeof(*map), GFP_KERNEL);
	if (!rb->pages || !map)
		goto fail;
	for (i = 0; i < nr_pages; i++) {
		rb->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO |
					  __GFP_NOWARN);
		if (!rb->pages[i])
			goto fail;
		rb->nr_pages++;
		map[i] = rb->pages[i];
	}
	for (i = 0; i < nr_data; i++)
		map[nr_pages + i] = rb->pages[2 + i];
	rb->base = vmap(map, nr_pages + nr_data, VM_MAP | VM_USERMAP,
			PAGE_KERNEL);
	if (!rb->base)
		goto fail;
	kvfree(map);

	raw_spin_lock_init(&rb->lock);
	init_waitqueue_head(&rb->waitq);
	init_irq_work(&rb->work, ht_kring_wake);
	rb->data_bytes = data_bytes;
	rb->mask = data_bytes - 1;
	rb->wake_mark = data_bytes / HT_RING_WAKEUP_FRACTION;
	rb->consumer_pos = rb->base;
	rb->producer_pos = rb->base + PAGE_SIZE;
	rb->data = rb->base + 2 * PAGE_SIZE;
	return rb;

fail:
	kvfree(map);
	ht_kring_free(rb);
	return NULL;
}

/* Caller guarantees no producer runs (probes detached and synchronized). */
void ht_kring_free(struct ht_kring *rb)
{
	unsigned int i;

	if (!rb)
		return;
	if (rb->base) {
		irq_work_sync(&rb->work);
		vunmap(rb->base);
	}
	for (i = 0; i < rb->nr_pages; i++)
		__free_page(rb->pages[i]);
	kvfree(rb->pages);
	kfree(rb);
}

/*
 * __bpf_ringbuf_reserve(): the consumer position is only used to decide
 * whether there is room; every write stays inside the double-mapped data
 * area whatever the reader wrote there.
 */
void *ht_kring_reserve(struct ht_kring *rb, u32 size)
{
	unsigned long cons_pos, prod_pos, new_prod_pos, flags;
	struct ht_ring_hdr *hdr;
	u32 len;

	len = ht_ring_record_span(size);
	if (len > rb->data_bytes)
		return NULL;

	cons_pos = smp_load_acquire(rb->consumer_pos);

	if (in_nmi()) {
		if (!raw_spin_trylock_irqsave(&rb->lock, flags))
			return NULL;
	} else {
		raw_spin_lock_irqsave(&rb->lock, flags);
	}

	prod_pos = *rb->producer_pos;
	new_prod_pos = prod_pos + len;

	/* Never let the producer get more than (size - 1) ahead. */
	if (new_prod_pos - cons_pos > rb->mask) {
		raw_spin_unlock_irqrestore(&rb->lock, flags);
		return NULL;
	}

	hdr = (void *)(rb->data + (prod_pos & rb->mask));
	hdr->len = size | HT_RING_BUSY_BIT;
	hdr->pg_off = HT_KRING_PGOFF_BASE +
		      ((prod_pos & rb->mask) >> PAGE_SHIFT);

	/* Pairs with the reader's load-acquire of producer_pos. */
	smp_store_release(rb->producer_pos, new_prod_pos);

	raw_spin_unlock_irqrestore(&rb->lock, flags);

	return (void *)hdr + HT_RING_HDR_SZ;
}

/*
 * bpf_ringbuf_commit() with hypertrace's batched wakeups (common/ht_ring.h):
 * wake the reader only once the unread data, this record included, reaches
 * size / HT_RING_WAKEUP_FRACTION, as the BPF backend does with
 * BPF_RB_FORCE_WAKEUP / BPF_RB_NO_WAKEUP.  Below the mark the reader finds
 * the records on its own periodic drain (HT_RING_POLL_MS).  The wakeup is an
 * irq_work: kvm_entry runs with interrupts off.
 */
void ht_kring_commit(struct ht_kring *rb, void *sample)
{
	struct ht_ring_hdr *hdr = sample - HT_RING_HDR_SZ;
	u64 cons_pos, prod_pos;

	/* Clears BUSY with full ordering: the payload is visible first. */
	xchg(&hdr->len, hdr->len ^ HT_RING_BUSY_BIT);

	prod_pos = smp_load_acquire(rb->producer_pos);
	cons_pos = smp_load_acquire(rb->consumer_pos);
	if (prod_pos - cons_pos >= rb->wake_mark)
		irq_work_queue(&rb->work);
}

bool ht_kring_has_data(struct ht_kring *rb)
{
	u64 cons_pos = smp_load_acquire(rb->consumer_pos);
	u64 prod_pos = smp_load_acquire(rb->producer_pos);

	return prod_pos != cons_pos;
}

/* ringbuf_map_mmap_kern(): the consumer page alone may be writable. */
int ht_kring_mmap(struct ht_kring *rb, struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_WRITE) {
		if (vma->vm_pgoff != 0 ||
		    vma->vm_end - vma->vm_start != PAGE_SIZE)
			return -EPERM;
	} else {
		ht_vm_flags_clear(vma, VM_MAYWRITE);
	}
	/* Checks that offset and size lie within the vmap area. */
	return remap_vmalloc_range(vma, rb->base, vma->vm_pgoff);
}
