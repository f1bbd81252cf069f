// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// One tracing run: wait on the backend's ring with Boost.Asio, hand each
// record to a sink, stop on SIGINT/SIGTERM/SIGHUP, when the duration elapses,
// or when the sink or a hook asks to (its output failed).
// Producers batch their wakeups (common/ht_ring.h), so the ring is also
// drained every HT_RING_POLL_MS.
// Single-threaded: one io_context, no thread per event, records read straight
// from the mapping.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "backend/backend.h"

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

// Lets the sink and the hooks end the run early, e.g. when the output they
// write failed: tracing into nowhere would lose every later record unseen.
// The session then stops at its next step (even in the middle of a batch),
// stops the backend, reads no more records and returns; the caller reports
// error().
class StopRequest {
public:
    void request(std::string error)
    {
        if (requested_)
            return;  // the first cause is the one to report
        requested_ = true;
        error_ = std::move(error);
    }
    bool requested() const { return requested_; }
    const std::string& error() const { return error_; }

private:
    bool requested_ = false;
    std::string error_;
};

using RecordSink = std::function<void(const ht_record&)>;

struct SessionHooks {
    std::function<void()> started;  // once the wait is armed: print "Tracing hypercalls…"
    std::function<void()> drained;  // after each batch: flush buffered output
    // Called every `interval` (not after the last one: the caller finishes).
    std::optional<std::chrono::nanoseconds> interval;
    std::function<void()> tick;
    // Called every `housekeeping_period` while tracing, for work off the
    // record path (--summary: naming the VMs that run, before they exit).
    std::optional<std::chrono::nanoseconds> housekeeping_period;
    std::function<void()> housekeeping;
    // Set when the sink or a hook may end the run (see StopRequest).
    StopRequest* stop_request = nullptr;
};

// From now on SIGINT, SIGTERM and SIGHUP only mark the run as to be stopped:
// one that arrives while the backend loads ends the session as soon as it
// starts (with totals), instead of killing the process.  Call once the
// output is open (opening a FIFO may block, and must stay interruptible).
void defer_stop_signals();

// Runs until a signal, `duration` or a StopRequest.  Stops the backend, then
// (unless stopped by a StopRequest) drains what it wrote before stopping, so
// no committed record is lost.
SessionResult run_session(Backend& backend, const RecordSink& sink, std::optional<std::chrono::nanoseconds> duration,
                          const SessionHooks& hooks);

}  // namespace hypertrace
