// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A userspace producer of the common/ht_ring.h protocol, over a memfd laid out
// like the kernel's ring (consumer page, producer page, data mapped twice).
// It lets tests and benchmarks drive the one reader without a kernel.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "backend/backend.h"
#include "util/unique_fd.h"

extern "C" {
#include "ht_record.h"
#include "ht_ring.h"
}

namespace hypertrace::testing {

class RingProducer {
public:
    explicit RingProducer(std::uint64_t size) : size_(size), page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)))
    {
        fd_.reset(::memfd_create("ht-ring-test", 0));
        if (!fd_ || ::ftruncate(fd_.get(), static_cast<off_t>(2 * page_ + size_)) != 0)
            throw std::runtime_error("memfd");
        meta_ = Mapping::map(2 * page_, PROT_READ | PROT_WRITE, fd_.get(), 0);
        // Reserve 2*size, then map the data pages into both halves.
        void* area = ::mmap(nullptr, 2 * size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (!meta_.valid() || area == MAP_FAILED)
            throw std::runtime_error("mmap");
        data_ = Mapping(area, 2 * size_);
        for (int half = 0; half < 2; ++half) {
            void* want = static_cast<std::uint8_t*>(area) + half * size_;
            if (::mmap(want, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_.get(),
                       static_cast<off_t>(2 * page_)) != want)
                throw std::runtime_error("mmap fixed");
        }
    }

    RingMapping mapping() const
    {
        RingMapping m;
        m.consumer_pos = consumer();
        m.producer_pos = producer();
        m.data = static_cast<const std::uint8_t*>(data_.get());
        m.size = size_;
        m.fd = fd_.get();
        return m;
    }

    // Reserve `len` payload bytes with the BUSY bit set; nullptr when full.
    std::uint8_t* reserve(std::uint32_t len)
    {
        const std::uint64_t cons = __atomic_load_n(consumer(), __ATOMIC_ACQUIRE);
        const std::uint64_t pos = *producer();
        const std::uint32_t span = ht_ring_record_span(len);
        if (pos - cons + span > size_)
            return nullptr;
        std::uint8_t* hdr = data() + (pos & (size_ - 1));
        reinterpret_cast<ht_ring_hdr*>(hdr)->pg_off = 0;
        __atomic_store_n(reinterpret_cast<std::uint32_t*>(hdr), len | HT_RING_BUSY_BIT, __ATOMIC_RELAXED);
        __atomic_store_n(producer(), pos + span, __ATOMIC_RELEASE);
        return hdr + HT_RING_HDR_SZ;
    }

    // Clear BUSY (and set DISCARD if asked): the record becomes visible.
    static void commit(std::uint8_t* payload, bool discard = false)
    {
        auto* len = reinterpret_cast<std::uint32_t*>(payload - HT_RING_HDR_SZ);
        std::uint32_t v = *len & ~HT_RING_BUSY_BIT;
        if (discard)
            v |= HT_RING_DISCARD_BIT;
        __atomic_store_n(len, v, __ATOMIC_RELEASE);
    }

    // What a corrupted producer (or a stray write into the ring) leaves: a
    // header length, or a producer position, that no legit producer writes.
    static void overwrite_len(std::uint8_t* payload, std::uint32_t len)
    {
        __atomic_store_n(reinterpret_cast<std::uint32_t*>(payload - HT_RING_HDR_SZ), len, __ATOMIC_RELEASE);
    }
    void overwrite_producer_pos(std::uint64_t pos) { __atomic_store_n(producer(), pos, __ATOMIC_RELEASE); }

    // Reserve + fill + commit one record; false when the ring is full.
    bool push(const ht_record& r)
    {
        std::uint8_t* p = reserve(sizeof r);
        if (!p)
            return false;
        std::memcpy(p, &r, sizeof r);
        commit(p);
        return true;
    }

private:
    volatile std::uint64_t* consumer() const { return static_cast<volatile std::uint64_t*>(meta_.get()); }
    volatile std::uint64_t* producer() const
    {
        return reinterpret_cast<volatile std::uint64_t*>(static_cast<std::uint8_t*>(meta_.get()) + page_);
    }
    std::uint8_t* data() const { return static_cast<std::uint8_t*>(data_.get()); }

    std::uint64_t size_;
    std::size_t page_;
    UniqueFd fd_;
    Mapping meta_;
    Mapping data_;
};

inline ht_record make_test_record(std::uint64_t seq)
{
    ht_record r{};
    r.version = HT_RECORD_VERSION;
    r.size = sizeof r;
    r.isa = HT_ISA_SVM;
    r.pid = 100;
    r.tid = 101;
    r.exit_reason = 0x81;
    r.nr = 42;
    r.a0 = seq;
    r.t_exit_ns = 1000 + seq;
    r.t_hypercall_ns = 2000 + seq;
    r.t_entry_ns = 3000 + seq;
    return r;
}

}  // namespace hypertrace::testing
