// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// hypertrace: trace KVM hypercalls, one record per wanted hypercall with the
// exit before it and the entry after it.  See `hypertrace --help`.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>

#include "backend/backend_select.h"
#include "cli/options.h"
#include "exporter/serve.h"
#include "kernel/kernel_facts.h"
#include "names/hypercall_listing.h"
#include "output/aggregate_summary.h"
#include "output/output.h"
#include "output/record_format.h"
#include "output/summary_print.h"
#include "output/vm_columns.h"
#include "session/trace_session.h"
#include "util/files.h"
#include "vm/vm_filter.h"
#include "vm/vm_resolver.h"

namespace hypertrace {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // could not trace (backend, permissions, kernel), or output failed
constexpr int kExitUsage = 2;    // bad command line

// Everything the kernel counted, one parseable line, the accounting identity
// every hypercall obeys (common/ht_state_machine.h), and a warning for each
// way a hypercall could have gone unreported: nothing is lost silently.
// Hypercalls still armed at stop (their entry never came: a VM destroyed
// after a hypercall its VMM was serving, a thread gone) count as unmatched.
void print_totals(const SessionResult& r, std::uint64_t vm_filtered)
{
    const Counters& c = r.counters;
    const std::uint64_t in_flight = c[HT_CNT_IN_FLIGHT];
    const std::uint64_t unmatched = c[HT_CNT_UNMATCHED_HYPERCALL] + in_flight;
    const std::uint64_t accounted = c[HT_CNT_EMITTED] + c[HT_CNT_FILTERED] + unmatched + c[HT_CNT_DROPPED];
    auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    std::fprintf(stderr,
                 "totals: records=%llu dropped=%llu unmatched=%llu filtered=%llu hypercalls=%llu "
                 "unmatched_hypercall=%llu in_flight=%llu unmatched_exit=%llu evicted=%llu no_state=%llu "
                 "emitted=%llu malformed=%llu vm_filtered=%llu\n",
                 u(r.records), u(c[HT_CNT_DROPPED]), u(unmatched), u(c[HT_CNT_FILTERED]), u(c[HT_CNT_HYPERCALLS]),
                 u(c[HT_CNT_UNMATCHED_HYPERCALL]), u(in_flight), u(c[HT_CNT_UNMATCHED_EXIT]), u(c[HT_CNT_EVICTED]),
                 u(c[HT_CNT_NO_STATE]), u(c[HT_CNT_EMITTED]), u(r.malformed), u(vm_filtered));
    if (accounted == c[HT_CNT_HYPERCALLS])
        std::fprintf(
            stderr, "identity: hypercalls %llu = emitted %llu + filtered %llu + unmatched %llu + dropped %llu\n",
            u(c[HT_CNT_HYPERCALLS]), u(c[HT_CNT_EMITTED]), u(c[HT_CNT_FILTERED]), u(unmatched), u(c[HT_CNT_DROPPED]));
    else
        std::fprintf(stderr,
                     "hypertrace: BUG: the counts do not add up: hypercalls %llu != emitted %llu + filtered %llu + "
                     "unmatched %llu + dropped %llu = %llu\n",
                     u(c[HT_CNT_HYPERCALLS]), u(c[HT_CNT_EMITTED]), u(c[HT_CNT_FILTERED]), u(unmatched),
                     u(c[HT_CNT_DROPPED]), u(accounted));
    if (c[HT_CNT_DROPPED])
        std::fprintf(stderr,
                     "hypertrace: %llu records dropped because the ring was full: use a larger "
                     "--ring-size, a narrower -n, or --summary\n",
                     u(c[HT_CNT_DROPPED]));
    if (unmatched)
        std::fprintf(stderr,
                     "hypertrace: %llu hypercalls could not be matched (%llu without an exit before "
                     "them or with another exit or thread before their entry, %llu still waiting for "
                     "their entry at stop)\n",
                     u(unmatched), u(c[HT_CNT_UNMATCHED_HYPERCALL]), u(in_flight));
    if (c[HT_CNT_UNMATCHED_EXIT])
        std::fprintf(stderr, "hypertrace: %llu exits had no entry after them (no hypercall lost)\n",
                     u(c[HT_CNT_UNMATCHED_EXIT]));
    if (c[HT_CNT_EVICTED] || c[HT_CNT_NO_STATE])
        std::fprintf(stderr,
                     "hypertrace: per-thread state lost for %llu events (%llu evicted, %llu not "
                     "allocatable)\n",
                     u(c[HT_CNT_EVICTED] + c[HT_CNT_NO_STATE]), u(c[HT_CNT_EVICTED]), u(c[HT_CNT_NO_STATE]));
    if (r.records != c[HT_CNT_EMITTED] || r.malformed)
        std::fprintf(stderr,
                     "hypertrace: the kernel emitted %llu records (or summary counts) but %llu were "
                     "read (%llu malformed)\n",
                     u(c[HT_CNT_EMITTED]), u(r.records), u(r.malformed));
}

// JSON's "interval" key: local time to the millisecond, so intervals shorter
// than a second stay apart.
std::string interval_label()
{
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::time_t t = system_clock::to_time_t(now);
    const long ms = static_cast<long>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s.%03ld", interval_header(t).c_str(), ms);
    return buf;
}

// --vm at start: name every running process (off the hot path, once) and
// say which VMs match.  None is a warning, not an error: --vm NAME also
// waits for a VM that starts later.  With -p too, the process must be one of
// them, or nothing could ever be traced: a usage error.
bool check_vm_filter(const Options& opts, VmResolver& resolver, const VmFilter& filter)
{
    std::string wanted;
    for (const std::string& v : opts.vms)
        wanted += (wanted.empty() ? "'" : ", '") + v + "'";
    resolver.scan_processes();
    std::vector<std::uint32_t> pids;
    for (const auto& [pid, vm] : resolver.named())
        if (filter.matches(*vm))
            pids.push_back(pid);
    if (opts.pid != HT_PID_ANY) {
        const VmIdentity& vm = resolver.vm(opts.pid);
        if (!filter.matches(vm)) {
            std::cerr << "hypertrace: -p " << opts.pid << " is "
                      << (vm.source == VmSource::None ? std::string("a process without a VM name")
                                                      : "VM '" + vm.name + "' (from " + vm_source_name(vm.source) + ")")
                      << ", not --vm " << wanted << ": nothing would be traced; drop -p or --vm\n";
            return false;
        }
        return true;
    }
    std::sort(pids.begin(), pids.end());
    if (pids.empty()) {
        std::cerr << "hypertrace: warning: --vm " << wanted
                  << " matches no running VM now (looked in libvirt's status files in " << resolver.libvirt_dir()
                  << ", QEMU command lines and machine cgroups); tracing anyway: its records appear once a VM "
                     "of that name runs\n";
    } else {
        std::cerr << "hypertrace: --vm " << wanted << " matches pid";
        for (std::uint32_t p : pids)
            std::cerr << " " << p;
        std::cerr << " now; a VM of that name started later is traced too\n";
    }
    return true;
}

int run(const Options& opts)
{
    // VM names: resolved per pid in userspace, never per record.
    VmResolver resolver;
    const VmFilter vm_filter(opts.vms);
    if (const char* d = std::getenv(kLibvirtRunDirEnv); d && *d && !path_exists(d))
        std::cerr << "hypertrace: warning: " << kLibvirtRunDirEnv << "=" << d
                  << " does not exist (yet): no VM is named from libvirt's status files until it does\n";
    if (vm_filter.active() && !check_vm_filter(opts, resolver, vm_filter))
        return kExitUsage;
    std::uint64_t vm_filtered = 0;  // records or summary counts --vm removed

    // Open the output before attaching anything: a bad -o path leaves
    // nothing loaded behind.  An existing file is not truncated yet: if no
    // backend comes up, it keeps its content (Output::claim()).
    std::optional<Output> output_storage;
    try {
        if (opts.output.empty())
            output_storage.emplace();
        else
            output_storage.emplace(opts.output);
    } catch (const std::system_error& e) {
        std::cerr << "hypertrace: cannot write --output '" << opts.output << "': " << e.code().message() << "\n";
        return kExitUsage;
    }
    Output& output = *output_storage;
    std::ostream& out = output.stream();
    // Ctrl-C (or SIGTERM, SIGHUP) while the backend loads no longer kills us
    // half-way: the run ends, with totals, as soon as it has started.
    defer_stop_signals();

    BackendConfig config;
    config.filter = make_filter(opts);
    config.ring_bytes = opts.ring_bytes;
    config.aggregate = opts.summary;   // statistics kept in the kernel, no records
    config.env = read_env_settings();  // the test and benchmark knobs, read once
    // One look at the kernel for the Xen check and every backend tried.
    config.facts = facts_for(config);
    std::string xen_why;
    if (xen_hypercall_proto(*config.facts, &xen_why) == HT_XEN_PROTO_NONE) {
        if (const std::string e = xen_untraceable_error(opts, xen_why); !e.empty()) {
            std::cerr << "hypertrace: " << e << "\n";
            return kExitFailure;
        }
    }
    SelectedBackend selected;
    try {
        selected = select_backend(opts.backend, config);
    } catch (const BackendError& e) {
        std::cerr << "hypertrace: " << e.what() << "\n";
        return kExitFailure;
    }
    std::cerr << "hypertrace: " << selected.why << "\n";
    if (!output.claim()) {
        std::cerr << "hypertrace: " << output.error_message() << "\n";
        return kExitFailure;
    }

    // Any output failure ends the run: tracing on would read records into
    // nowhere.  The session stops and detaches; we report and exit 1.
    StopRequest stop;
    auto check_output = [&output, &stop] {
        if (output.failed())
            stop.request(output.error_message());
    };

    const TimeBase time_base = TimeBase::now(opts.timestamp);
    std::unique_ptr<RecordWriter> writer;
    VmColumns vm_columns(opts.format, &resolver, &vm_filter);
    // --summary: the kernel keeps the statistics; a hypercall it could not
    // add there (no room for a new key) arrives as a record and joins them.
    AggregateSummary from_records;
    RecordSink sink;
    if (opts.summary) {
        sink = [&from_records](const ht_record& r) { from_records.add(r); };
    } else {
        writer = make_record_writer(opts.format, out, time_base, &vm_columns);
        // The writer hands the stream 64 KiB at a time: checking after each
        // record costs a load and catches a failure within one block.
        // --vm: the same per-thread lookup the writer makes (the second is
        // a compare), so a removed record costs no formatting.
        sink = [&writer, &check_output, &vm_columns, &vm_filtered](const ht_record& r) {
            if (!vm_columns.get(r.pid, r.tid).keep) {
                vm_filtered++;
                return;
            }
            writer->write(r);
            check_output();
        };
    }

    // --summary: print a batch of the kernel's statistics; with -i each
    // batch under its interval's header, else one batch at the end.
    std::uint64_t aggregated = 0;
    auto print_batch = [&](const std::vector<AggregateEntry>& batch, bool interval) {
        AggregateSummary agg = std::move(from_records);  // the session counted these records
        from_records = AggregateSummary();
        const std::uint64_t from_ring = agg.total();
        agg.add(batch);
        aggregated += agg.total() - from_ring;
        std::vector<SummaryRow> rows = agg.rows();
        // Label each row with its VM; --vm drops the others, counted.
        std::vector<SummaryRow> kept;
        for (SummaryRow& row : rows) {
            row.vm = resolver.vm(row.pid);
            if (vm_filter.active() && !vm_filter.matches(row.vm))
                vm_filtered += row.count;
            else
                kept.push_back(std::move(row));
        }
        rows = std::move(kept);
        if (opts.format == Format::Json)
            print_summary_json(out, rows, interval ? interval_label() : std::string());
        else
            print_summary_text(out, rows, interval ? interval_header(std::time(nullptr)) : std::string());
        output.flush();
        check_output();
    };

    static_assert(kMaxDurationNs <= static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count()),
                  "options.cpp caps durations so they fit the session's timers");
    std::optional<std::chrono::nanoseconds> duration;
    if (opts.duration_ns)
        duration = std::chrono::nanoseconds(opts.duration_ns);
    SessionHooks hooks;
    hooks.stop_request = &stop;
    hooks.started = [&] {
        // The text and CSV header now, not with the first record: a live
        // terminal shows it at once, and an unwritable output ends the run
        // before anything is traced into it.
        if (writer) {
            writer->flush();
            check_output();
        }
        if (!stop.requested())
            std::cerr << "Tracing hypercalls\u2026 Hit Ctrl-C to end." << std::endl;
    };
    if (writer)
        hooks.drained = [&] {
            writer->flush();
            check_output();
        };
    if (opts.summary) {
        // Rows are labelled when printed: name the VMs while they run, so
        // one that exits before the end keeps its name (vm_resolver.h).
        resolver.scan_processes();
        hooks.housekeeping_period = std::chrono::milliseconds(500);
        hooks.housekeeping = [&resolver] { resolver.scan_processes(); };
    }
    if (opts.summary && opts.interval_ns) {
        hooks.interval = std::chrono::nanoseconds(opts.interval_ns);
        hooks.tick = [&] { print_batch(selected.backend->take_aggregates(), true); };
    }
    SessionResult result = run_session(*selected.backend, sink, duration, hooks);
    if (opts.summary)
        resolver.scan_processes();  // the VMs still running at the end
    // After stop(): what the kernel gathered since the last interval.
    std::vector<AggregateEntry> last;
    if (opts.summary)
        last = selected.backend->take_aggregates();
    const std::uint64_t skipped = selected.backend->skipped_by_kernel();
    selected.backend.reset();  // detached and unloaded before we report

    if (!stop.requested()) {
        if (opts.summary)
            print_batch(last, opts.interval_ns != 0);
        else
            writer->finish();
        output.flush();
        check_output();
    }
    if (opts.summary)
        result.records = aggregated + result.records;
    print_totals(result, vm_filtered);
    if (vm_filter.active())
        std::fprintf(stderr,
                     "hypertrace: --vm removed %llu of %llu hypercalls emitted (other VMs, or VMs gone before "
                     "they could be named)\n",
                     static_cast<unsigned long long>(vm_filtered),
                     static_cast<unsigned long long>(result.counters[HT_CNT_EMITTED]));
    if (skipped)
        std::fprintf(stderr,
                     "hypertrace: the kernel skipped %llu runs of hypertrace's BPF programs (another run or BPF user "
                     "held that CPU's BPF context): the events they would have seen are not in these totals\n",
                     static_cast<unsigned long long>(skipped));
    if (stop.requested()) {
        std::cerr << "hypertrace: " << stop.error() << "\n";
        return kExitFailure;
    }
    return kExitOk;
}

// -h, -V, --list-hypercalls, --check: output failures count here too.
int print_to_stdout(const std::function<int(std::ostream&)>& print)
{
    Output output;
    const int rc = print(output.stream());
    if (!output.flush()) {
        std::cerr << "hypertrace: " << output.error_message() << "\n";
        return kExitFailure;
    }
    return rc;
}

}  // namespace
}  // namespace hypertrace

int main(int argc, char** argv)
{
    using namespace hypertrace;
    // A closed output pipe (hypertrace ... | head) must be an error we see
    // and report (EPIPE), with totals and a clean detach, not a silent death.
    std::signal(SIGPIPE, SIG_IGN);
    Options opts;
    try {
        opts = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "hypertrace: " << e.what() << "\nTry 'hypertrace --help' for more information.\n";
        return kExitUsage;
    }
    if (opts.help)
        return print_to_stdout([](std::ostream& out) {
            out << help_text();
            return kExitOk;
        });
    if (opts.version)
        return print_to_stdout([](std::ostream& out) {
            out << version_text();
            return kExitOk;
        });
    if (opts.list_hypercalls)
        return print_to_stdout([&opts](std::ostream& out) {
            print_hypercall_tables(out, opts.list_abi);
            return kExitOk;
        });
    try {
        if (opts.check)
            return print_to_stdout([](std::ostream& out) { return check_backends(out) == 0 ? kExitOk : kExitFailure; });
        if (opts.serve)
            return run_exporter(opts);
        return run(opts);
    } catch (const std::exception& e) {
        std::cerr << "hypertrace: " << e.what() << "\n";
        return kExitFailure;
    }
}
