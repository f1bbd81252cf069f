// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The consumer side of common/ht_ring.h: the one reader for both backends.
// libbpf's ring_buffer API cannot serve here: ring_buffer__add() refuses any
// fd that is not a BPF ringbuf map, and the module's ring is a device.  So the
// protocol (the kernel's, unchanged) is implemented once, here.
#pragma once

#include <cstdint>
#include <type_traits>

#include "backend/backend.h"

extern "C" {
#include "ht_record.h"
#include "ht_ring.h"
}

namespace hypertrace {

class RingReader {
public:
    explicit RingReader(const RingMapping& ring);

    // Hand the committed records up to the producer position read on entry
    // to fn(const ht_record&), in ring order, straight from the mapping (no
    // copy), publishing the consumer position after each.  One pass, never
    // more: a producer that keeps committing cannot keep the caller in here
    // (the session re-posts a drain while records keep coming, so signals
    // and timers are served in between).  Stops at the first record still
    // being written, or after `max` records.  Returns the number of records
    // handed over.  Always returns, whatever the ring holds (see
    // malformed()).  If fn returns bool, false stops the drain after that
    // record (consumed).
    template <class Fn>
    std::uint64_t drain(Fn&& fn, std::uint64_t max = ~std::uint64_t{0});

    // True when the producer has published nothing we have not consumed.
    bool caught_up() const;

    // The consumer position: bytes consumed so far (records, discarded and
    // malformed ones, and skips).
    std::uint64_t position() const { return cons_; }

    // Records whose length or version this reader does not know: skipped,
    // counted, never misread.  Also each corrupted header (a record reaching
    // past the producer position) and each impossible producer position: the
    // reader then skips everything up to the producer position and goes on
    // from there.
    std::uint64_t malformed() const { return malformed_; }

private:
    // Count one corruption, skip to `prod` and publish it, so producers see
    // an empty ring and the walk restarts at a record boundary.
    void resync(std::uint64_t prod)
    {
        ++malformed_;
        cons_ = prod;
        __atomic_store_n(consumer_pos_, cons_, __ATOMIC_RELEASE);
    }

    const std::uint8_t* data_;
    std::uint64_t mask_;
    std::uint64_t size_;
    volatile std::uint64_t* consumer_pos_;
    const volatile std::uint64_t* producer_pos_;
    std::uint64_t cons_;
    std::uint64_t malformed_ = 0;
};

template <class Fn>
std::uint64_t RingReader::drain(Fn&& fn, std::uint64_t max)
{
    std::uint64_t handed = 0;
    bool stop = false;
    {
        const std::uint64_t prod = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE);
        if (cons_ == prod)
            return handed;
        // Producers never let unread data exceed the ring; more (or a
        // producer position behind ours) cannot be walked record by record.
        if (prod - cons_ > size_) {
            resync(prod);
            return handed;
        }
        while (cons_ != prod) {
            const std::uint8_t* hdr = data_ + (cons_ & mask_);
            const std::uint32_t len = __atomic_load_n(reinterpret_cast<const std::uint32_t*>(hdr), __ATOMIC_ACQUIRE);
            if (len & HT_RING_BUSY_BIT)
                return handed;  // producer still writing it
            const std::uint32_t payload = len & ~(HT_RING_BUSY_BIT | HT_RING_DISCARD_BIT);
            const std::uint64_t span = ht_ring_record_span(payload);
            // A producer publishes producer_pos past the whole record before
            // the record can be seen, so a record reaching beyond prod is a
            // corrupted header.  Trusting it would move cons_ past prod: this
            // loop would never end, and the published consumer_pos would make
            // every producer see a full ring.  Nothing before prod can be
            // parsed reliably any more: skip to it.
            if (span > prod - cons_) {
                resync(prod);
                break;
            }
            if (!(len & HT_RING_DISCARD_BIT)) {
                const auto* rec = reinterpret_cast<const ht_record*>(hdr + HT_RING_HDR_SZ);
                if (payload == sizeof(ht_record) && rec->version == HT_RECORD_VERSION &&
                    rec->size == sizeof(ht_record)) {
                    ++handed;
                    if constexpr (std::is_same_v<std::invoke_result_t<Fn&, const ht_record&>, bool>) {
                        if (!fn(*rec))
                            stop = true;
                    } else {
                        fn(*rec);
                    }
                } else {
                    ++malformed_;
                }
            }
            cons_ += span;
            __atomic_store_n(consumer_pos_, cons_, __ATOMIC_RELEASE);
            if (stop || handed >= max)
                return handed;
        }
    }
    return handed;
}

}  // namespace hypertrace
