// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The consumer side of common/ht_ring.h: the one reader for both backends.
// libbpf's ring_buffer API cannot serve here: ring_buffer__add() refuses any
// fd that is not a BPF ringbuf map, and the module's ring is a device.  So the
// protocol (the kernel's, unchanged) is implemented once, here.
#pragma once

#include <cstdint>

#include "backend.h"

extern "C" {
#include "ht_record.h"
#include "ht_ring.h"
}

namespace hypertrace {

class RingReader {
public:
    explicit RingReader(const RingMapping& ring);

    // Hand every committed record to fn(const ht_record&), in ring order,
    // straight from the mapping (no copy), publishing the consumer position
    // after each.  Stops at the first record still being written.  Returns
    // the number of records handed over.
    template <class Fn>
    std::uint64_t drain(Fn&& fn);

    // True when the producer has published nothing we have not consumed.
    bool caught_up() const;

    // Records whose length or version this reader does not know: skipped,
    // counted, never misread.
    std::uint64_t malformed() const { return malformed_; }

private:
    const std::uint8_t* data_;
    std::uint64_t mask_;
    volatile std::uint64_t* consumer_pos_;
    const volatile std::uint64_t* producer_pos_;
    std::uint64_t cons_;
    std::uint64_t malformed_ = 0;
};

template <class Fn>
std::uint64_t RingReader::drain(Fn&& fn) {
    std::uint64_t handed = 0;
    for (;;) {
        const std::uint64_t prod = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE);
        if (cons_ == prod) return handed;
        while (cons_ < prod) {
            const std::uint8_t* hdr = data_ + (cons_ & mask_);
            const std::uint32_t len =
                __atomic_load_n(reinterpret_cast<const std::uint32_t*>(hdr), __ATOMIC_ACQUIRE);
            if (len & HT_RING_BUSY_BIT) return handed;  // producer still writing it
            const std::uint32_t payload = len & ~(HT_RING_BUSY_BIT | HT_RING_DISCARD_BIT);
            if (!(len & HT_RING_DISCARD_BIT)) {
                const auto* rec = reinterpret_cast<const ht_record*>(hdr + HT_RING_HDR_SZ);
                if (payload == sizeof(ht_record) && rec->version == HT_RECORD_VERSION &&
                    rec->size == sizeof(ht_record)) {
                    fn(*rec);
                    ++handed;
                } else {
                    ++malformed_;
                }
            }
            cons_ += ht_ring_record_span(payload);
            __atomic_store_n(consumer_pos_, cons_, __ATOMIC_RELEASE);
        }
    }
}

}  // namespace hypertrace
