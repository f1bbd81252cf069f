// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// hypertrace: trace KVM hypercalls, one record per wanted hypercall with the
// exit before it and the entry after it.  See `hypertrace --help`.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "backend_select.h"
#include "options.h"
#include "record_format.h"
#include "summary.h"
#include "trace_session.h"

namespace hypertrace {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // could not trace (backend, permissions, kernel)
constexpr int kExitUsage = 2;    // bad command line

// Everything the kernel counted, one parseable line, plus a warning for each
// way a hypercall could have gone unreported: nothing is lost silently.
void print_totals(const SessionResult& r) {
    const Counters& c = r.counters;
    const std::uint64_t unmatched = c[HT_CNT_UNMATCHED_HYPERCALL] + c[HT_CNT_UNMATCHED_EXIT];
    std::fprintf(stderr,
                 "totals: records=%llu dropped=%llu unmatched=%llu filtered=%llu hypercalls=%llu "
                 "unmatched_hypercall=%llu unmatched_exit=%llu evicted=%llu no_state=%llu emitted=%llu "
                 "malformed=%llu\n",
                 (unsigned long long)r.records, (unsigned long long)c[HT_CNT_DROPPED],
                 (unsigned long long)unmatched, (unsigned long long)c[HT_CNT_FILTERED],
                 (unsigned long long)c[HT_CNT_HYPERCALLS], (unsigned long long)c[HT_CNT_UNMATCHED_HYPERCALL],
                 (unsigned long long)c[HT_CNT_UNMATCHED_EXIT], (unsigned long long)c[HT_CNT_EVICTED],
                 (unsigned long long)c[HT_CNT_NO_STATE], (unsigned long long)c[HT_CNT_EMITTED],
                 (unsigned long long)r.malformed);
    if (c[HT_CNT_DROPPED])
        std::fprintf(stderr, "hypertrace: %llu records dropped because the ring was full: use a larger "
                             "--ring-size, a narrower -n, or --summary\n",
                     (unsigned long long)c[HT_CNT_DROPPED]);
    if (unmatched)
        std::fprintf(stderr, "hypertrace: %llu hypercalls could not be matched (%llu without an exit before "
                             "or an entry after, %llu exits without an entry)\n",
                     (unsigned long long)unmatched, (unsigned long long)c[HT_CNT_UNMATCHED_HYPERCALL],
                     (unsigned long long)c[HT_CNT_UNMATCHED_EXIT]);
    if (c[HT_CNT_EVICTED] || c[HT_CNT_NO_STATE])
        std::fprintf(stderr, "hypertrace: per-thread state lost for %llu events (%llu evicted, %llu not "
                             "allocatable)\n",
                     (unsigned long long)(c[HT_CNT_EVICTED] + c[HT_CNT_NO_STATE]),
                     (unsigned long long)c[HT_CNT_EVICTED], (unsigned long long)c[HT_CNT_NO_STATE]);
    if (r.records != c[HT_CNT_EMITTED] || r.malformed)
        std::fprintf(stderr, "hypertrace: the kernel emitted %llu records but %llu were read (%llu malformed)\n",
                     (unsigned long long)c[HT_CNT_EMITTED], (unsigned long long)r.records,
                     (unsigned long long)r.malformed);
}

int run(const Options& opts) {
    // Open the output before attaching anything: a bad -o path leaves
    // nothing loaded behind.
    std::ofstream file;
    if (!opts.output.empty()) {
        file.open(opts.output, std::ios::out | std::ios::trunc);
        if (!file) {
            std::cerr << "hypertrace: cannot write --output '" << opts.output << "': " << std::strerror(errno)
                      << "\n";
            return kExitUsage;
        }
    }
    std::ostream& out = opts.output.empty() ? std::cout : file;

    BackendConfig config;
    config.filter = make_filter(opts);
    config.ring_bytes = opts.ring_bytes;
    SelectedBackend selected;
    try {
        selected = select_backend(opts.backend, config);
    } catch (const BackendError& e) {
        std::cerr << "hypertrace: " << e.what() << "\n";
        return kExitFailure;
    }
    std::cerr << "hypertrace: " << selected.why << "\n";

    const TimeBase time_base = TimeBase::now(opts.timestamp);
    std::unique_ptr<RecordWriter> writer;
    Summary summary;
    RecordSink sink;
    if (opts.summary) {
        sink = [&summary](const ht_record& r) { summary.add(r); };
    } else {
        writer = make_record_writer(opts.format, out, time_base);
        sink = [&writer](const ht_record& r) { writer->write(r); };
    }

    std::optional<std::chrono::nanoseconds> duration;
    if (opts.duration_ns) duration = std::chrono::nanoseconds(opts.duration_ns);
    SessionHooks hooks;
    hooks.started = [] { std::cerr << "Tracing hypercalls\u2026 Hit Ctrl-C to end." << std::endl; };
    if (writer)
        hooks.drained = [&writer, &out] {
            writer->flush();
            out.flush();
        };
    const SessionResult result = run_session(*selected.backend, sink, duration, hooks);
    selected.backend.reset();  // detached and unloaded before we report

    if (opts.summary) {
        if (opts.format == Format::Json)
            summary.print_json(out);
        else
            summary.print_text(out);
    } else {
        writer->finish();
    }
    out.flush();
    print_totals(result);
    return kExitOk;
}

}  // namespace
}  // namespace hypertrace

int main(int argc, char** argv) {
    using namespace hypertrace;
    Options opts;
    try {
        opts = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "hypertrace: " << e.what() << "\nTry 'hypertrace --help' for more information.\n";
        return kExitUsage;
    }
    if (opts.help) {
        std::cout << help_text();
        return kExitOk;
    }
    if (opts.version) {
        std::cout << version_text();
        return kExitOk;
    }
    try {
        if (opts.check) return check_backends(std::cout) == 0 ? kExitOk : kExitFailure;
        return run(opts);
    } catch (const std::exception& e) {
        std::cerr << "hypertrace: " << e.what() << "\n";
        return kExitFailure;
    }
}
