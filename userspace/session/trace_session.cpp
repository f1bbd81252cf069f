// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "session/trace_session.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <system_error>

#include "session/ring_reader.h"

extern "C" {
#include "ht_ring.h"
}

namespace hypertrace {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The stop signal that arrived before run_session took the signals over.
volatile std::sig_atomic_t g_deferred_signal = 0;

extern "C" void remember_stop_signal(int signo) { g_deferred_signal = signo; }

}  // namespace

void defer_stop_signals()
{
    struct sigaction sa {};
    sa.sa_handler = remember_stop_signal;
    sigemptyset(&sa.sa_mask);
    // Loading a backend must not see EINTR from a signal it can ignore.
    sa.sa_flags = SA_RESTART;
    for (int signo : kStopSignals)
        ::sigaction(signo, &sa, nullptr);
}

// Records handed over per handler: bounds how long a signal or timer waits.
constexpr std::uint64_t kDrainBatch = 1024;

SessionResult run_session(Backend& backend, const RecordSink& sink, std::optional<std::chrono::nanoseconds> duration,
                          const SessionHooks& hooks)
{
    namespace asio = boost::asio;
    SessionResult result;
    const RingMapping mapping = backend.ring();
    RingReader reader(mapping);

    asio::io_context io;
    // stream_descriptor closes what it holds: give it a dup of the backend's
    // fd, which the backend keeps owning.
    const int wait_fd = ::dup(mapping.fd);
    if (wait_fd < 0)
        throw std::system_error(errno, std::generic_category(), "dup(ring fd)");
    asio::posix::stream_descriptor ring_fd(io, wait_fd);
    asio::signal_set signals(io);
    for (int signo : kStopSignals)
        signals.add(signo);
    asio::steady_timer timer(io);
    asio::steady_timer poll_timer(io);
    asio::steady_timer interval_timer(io);
    asio::steady_timer housekeeping_timer(io);
    bool stopping = false;
    auto stop_requested = [&] { return hooks.stop_request && hooks.stop_request->requested(); };

    // Idempotent: called again after setup, it also cancels what setup
    // armed after an earlier call.
    auto stop = [&] {
        stopping = true;
        signals.cancel();
        timer.cancel();
        poll_timer.cancel();
        interval_timer.cancel();
        housekeeping_timer.cancel();
        ring_fd.cancel();
    };
    // After every step that runs the sink or a hook.
    auto stop_if_requested = [&] {
        if (stop_requested())
            stop();
    };

    // One bounded pass over the ring per handler (RingReader::drain, at most
    // kDrainBatch records).  While records keep coming, the next pass is
    // posted behind whatever else is ready (a signal, the duration, an
    // interval tick): a ring that never empties, or a backlog behind a slow
    // output, must not keep them waiting (a whole 8 MiB ring written to a
    // slow file took seconds).  No progress (a record still being written
    // at the head) waits for the next wakeup or poll instead.
    bool drain_posted = false;
    std::function<void()> drain = [&] {
        const std::uint64_t before = reader.position();
        // Stop handing records over as soon as the sink has asked to stop.
        const std::uint64_t n = reader.drain(
            [&](const ht_record& r) {
                sink(r);
                return !stop_requested();
            },
            kDrainBatch);
        result.records += n;
        if (n && hooks.drained && !stop_requested())
            hooks.drained();
        if (!stopping && !stop_requested() && !drain_posted && reader.position() != before && !reader.caught_up()) {
            drain_posted = true;
            asio::post(io, [&] {
                drain_posted = false;
                if (stopping)
                    return;
                drain();
                stop_if_requested();
            });
        }
    };

    // Asio's epoll reactor is edge-triggered and the producer wakes the
    // reader only when the reader had caught up.  So: arm the wait first,
    // then drain; a record committed before the wait was armed is drained
    // here, one committed after it wakes the armed wait.
    std::function<void()> wait_ring = [&] {
        ring_fd.async_wait(asio::posix::stream_descriptor::wait_read, [&](const boost::system::error_code& ec) {
            if (ec || stopping)
                return;
            wait_ring();
        });
        drain();
        stop_if_requested();
    };

    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec)
            return;
        result.signal = signo;
        stop();
    });
    if (duration) {
        timer.expires_after(*duration);
        timer.async_wait([&](const boost::system::error_code& ec) {
            if (!ec)
                stop();
        });
    }
    // Below the wakeup mark nobody wakes us: look every HT_RING_POLL_MS.
    std::function<void()> poll = [&] {
        poll_timer.expires_after(std::chrono::milliseconds(HT_RING_POLL_MS));
        poll_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping)
                return;
            drain();
            stop_if_requested();
            if (!stopping)
                poll();
        });
    };
    // Interval ticks keep to a fixed schedule (no drift from tick work).
    std::function<void()> schedule_tick = [&] {
        interval_timer.expires_at(interval_timer.expiry() + *hooks.interval);
        interval_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping)
                return;
            drain();
            if (hooks.tick && !stop_requested())
                hooks.tick();
            stop_if_requested();
            if (!stopping)
                schedule_tick();
        });
    };
    std::function<void()> housekeep = [&] {
        housekeeping_timer.expires_after(*hooks.housekeeping_period);
        housekeeping_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping)
                return;
            hooks.housekeeping();
            stop_if_requested();
            if (!stopping)
                housekeep();
        });
    };
    wait_ring();
    poll();
    if (hooks.housekeeping_period && hooks.housekeeping)
        housekeep();
    if (hooks.interval) {
        interval_timer.expires_at(asio::steady_timer::clock_type::now());
        schedule_tick();
    }
    if (hooks.started)
        hooks.started();
    stop_if_requested();
    // A stop signal that came while the backend loaded (defer_stop_signals);
    // from here on the signal_set above receives them.
    if (const int signo = g_deferred_signal) {
        result.signal = signo;
        stop();
    }
    io.run();

    backend.stop();
    // Everything the stopped producers committed, pass after pass.
    while (!stop_requested() && !reader.caught_up()) {
        const std::uint64_t before = reader.position();
        drain();
        if (reader.position() == before)
            break;  // a record left half-written
    }
    result.malformed = reader.malformed();
    result.counters = backend.counters();
    return result;
}

}  // namespace hypertrace
