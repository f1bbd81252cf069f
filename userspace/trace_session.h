// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// One tracing run: wait on the backend's ring with Boost.Asio, hand each
// record to a sink, stop on SIGINT/SIGTERM or when the duration elapses.
// Producers batch their wakeups (common/ht_ring.h), so the ring is also
// drained every HT_RING_POLL_MS.
// Single-threaded: one io_context, no thread per event, records read straight
// from the mapping.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "backend.h"

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

struct SessionResult {
    std::uint64_t records = 0;    // handed to the sink
    std::uint64_t malformed = 0;  // skipped by the reader
    Counters counters{};          // the backend's, read after the final drain
    int signal = 0;               // the signal that ended the run, or 0
};

using RecordSink = std::function<void(const ht_record&)>;

struct SessionHooks {
    std::function<void()> started;  // once the wait is armed: print "Tracing hypercalls…"
    std::function<void()> drained;  // after each batch: flush buffered output
    // Called every `interval` (not after the last one: the caller finishes).
    std::optional<std::chrono::nanoseconds> interval;
    std::function<void()> tick;
};

// Runs until a signal or `duration`.  Stops the backend, then drains what it
// wrote before stopping, so no committed record is lost.
SessionResult run_session(Backend& backend, const RecordSink& sink,
                          std::optional<std::chrono::nanoseconds> duration, const SessionHooks& hooks);

}  // namespace hypertrace
