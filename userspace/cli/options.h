// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The command line, bcc-tool style.  parse_options() is pure apart from one
// look at /proc (does --pid exist?): it returns what the user asked for, or
// throws UsageError whose message names the problem and the fix.  main prints
// "hypertrace: <what()>" and exits 2; for -h / -V it prints help_text() /
// version_text() and exits 0.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/nr_list.h"
#include "names/hypercall_abi.h"

extern "C" {
#include "ht_config.h"
#include "ht_record.h"  // enum ht_abi
}

namespace hypertrace {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Longest --duration and --interval: 365 days (525600m).  The run's timers
// count signed 64-bit nanoseconds (std::chrono), where 2^63 ns and more wrap
// negative; a year is longer than any trace, and a round limit is easy to
// state in the help and the man page.
constexpr std::uint64_t kMaxDurationNs = 525600ull * 60 * 1000000000;
constexpr const char* kMaxDurationText = "525600m (365 days)";

// Chrome: the Trace Event Format (output/chrome_trace.h), a timeline.
enum class Format { Text, Json, Csv, Chrome };

// --serve's default port: not the libvirt exporter's 9177 nor
// ebpf_exporter's 9435 (Prometheus's exporter port list).
constexpr std::uint16_t kDefaultServePort = 9857;

enum class BackendKind { Auto, Bpf, Kmod };

struct Options {
    // -n, per ABI (cli/nr_list.h): merged, sorted.  Without -n (nr_given
    // false) every hypercall of every ABI is traced.  With -n, an ABI whose
    // ranges are empty is not traced at all: "-n hv:HvCallPostMessage" wants
    // no KVM hypercall, "-n 42" no Hyper-V call (make_filter()).  A Xen
    // selection is refused where the kernel cannot trace Xen hypercalls
    // (xen_untraceable_error()).
    std::vector<NrRange> nr_ranges;      // KVM nr; empty = every nr (if !nr_given)
    std::vector<NrRange> hyperv_ranges;  // Hyper-V call codes (<= 0xffff)
    std::vector<NrRange> xen_ranges;     // Xen nr
    bool nr_given = false;               // -n was given (at least one item)
    std::uint32_t pid = HT_PID_ANY;      // -p: VM process (tgid); 0 = every VM
    std::vector<std::string> vms;        // --vm: VM names or UUIDs (userspace filter, vm/vm_filter.h)
    std::uint32_t vcpu = HT_VCPU_ANY;    // --vcpu: vcpu_id, or every vCPU
    std::uint64_t min_latency_ns = 0;    // --min-latency: exit->entry at least this
    std::uint64_t duration_ns = 0;       // -d / positional; 0 = until Ctrl-C; <= kMaxDurationNs
    Format format = Format::Text;        // -f
    std::string output;                  // -o FILE; empty = stdout
    bool summary = false;                // -s: statistics at the end instead of records
    std::uint64_t interval_ns =
        0;  // -i: with -s, print and reset every interval; 0 = at the end only; <= kMaxDurationNs
    BackendKind backend = BackendKind::Auto;  // -b
    bool check = false;                       // --check: check the host can trace, then exit
    bool timestamp = false;                   // -T: wall-clock time column (text format)
    bool hypercall_exits_only = false;        // --hypercall-exits-only: HT_REASON_HYPERCALL_ONLY
    std::uint32_t ring_bytes = 8u << 20;      // --ring-size: power of two, >= page size, <= 1 GiB
    bool help = false;                        // -h: print help_text(), exit 0
    bool version = false;                     // -V: print version_text(), exit 0
    bool list_hypercalls = false;             // --list-hypercalls: print the name tables, exit 0
    std::optional<HypercallAbi> list_abi;     // --list-hypercalls ABI: only that table
    // --serve [ADDR]:PORT: run as a Prometheus exporter (exporter/serve.h).
    bool serve = false;
    std::string serve_address;  // empty: every address
    std::uint16_t serve_port = kDefaultServePort;
    std::size_t max_series = 5000;                        // --max-series
    std::uint64_t series_grace_ns = 300ull * 1000000000;  // --series-grace (5m)
};

// Parse argv.  Throws UsageError.  With -h, -V or --list-hypercalls the
// other options are not validated (so `hypertrace -n foo -h` still shows
// help).
Options parse_options(int argc, char** argv);

// The error for a -n that selects Xen hypercalls where none can be traced
// (`why`: the kernel's reason, from xen_hypercall_proto()), naming the
// selection and what to do; "" when opts selects no Xen hypercall.  Only
// the kernel knows (kvm_xen_hypercall in tracefs, KVM_CAP_XEN_HVM), so
// main() asks after the kernel facts, before any backend loads: such a
// selection would otherwise trace nothing of what it names.
std::string xen_untraceable_error(const Options& opts, const std::string& why);

// The filter both backends load (nr ranges, reason mode, pid, vcpu, min latency).
ht_filter make_filter(const Options& opts);

std::string help_text();     // usage, options, examples; ends with '\n'
std::string version_text();  // "hypertrace <version>\n"

const char* format_name(Format f);        // "text", "json", "csv", "chrome"
const char* backend_name(BackendKind b);  // "auto", "bpf", "kmod"

}  // namespace hypertrace
