// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "exporter/serve.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>

#include "backend/backend_select.h"
#include "exporter/bpf_stats.h"
#include "exporter/exposition.h"
#include "exporter/http_server.h"
#include "exporter/series_store.h"
#include "names/hypercall_abi.h"
#include "names/hypercall_lookup.h"
#include "session/trace_session.h"
#include "vm/vm_resolver.h"

namespace hypertrace {
namespace {

// How often the kernel's statistics are folded into the store: what a
// scrape shows is at most this old.
constexpr auto kFoldPeriod = std::chrono::seconds(1);

bool process_alive(std::uint32_t pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

int run_exporter(const Options& opts)
{
    // The VM's name and UUID, looked up once per new series (vm/vm_resolver.h).
    auto resolver = std::make_unique<VmResolver>();
    auto labels = [&resolver](std::uint32_t pid, std::uint8_t abi, std::uint64_t nr) {
        SeriesLabels l;
        const VmIdentity& vm = resolver->vm(pid);
        l.pid = std::to_string(pid);
        l.vm = vm.name;
        l.uuid = vm.uuid;
        const auto a = static_cast<HypercallAbi>(abi);
        l.abi = abi < HT_ABI_COUNT ? abi_name(a) : std::to_string(abi);
        l.nr = std::to_string(nr);
        if (abi < HT_ABI_COUNT)
            l.name = std::string(hypercall_name(a, nr));
        return l;
    };

    std::mutex mu;  // guards store and state: the session thread writes, the HTTP thread renders
    SeriesStore store(opts.max_series, std::chrono::nanoseconds(opts.series_grace_ns), labels);
    ExporterState state;
    state.store = &store;

    // Listen before attaching anything: a taken port leaves nothing behind.
    std::optional<HttpServer> server;
    try {
        server.emplace(opts.serve_address, opts.serve_port, HttpLimits{},
                       [&mu, &state](const std::string& accept, HttpResponse& resp) {
                           const ExpositionFormat f = negotiate(accept);
                           resp.content_type = content_type(f);
                           std::lock_guard<std::mutex> lock(mu);
                           render_metrics(state, f, resp.body);
                       });
    } catch (const std::exception& e) {
        std::cerr << "hypertrace: --serve: " << e.what() << "\n";
        return 1;
    }
    defer_stop_signals();

    BackendConfig config;
    config.filter = make_filter(opts);
    config.ring_bytes = opts.ring_bytes;
    config.aggregate = true;  // the statistics stay in the kernel
    config.env = read_env_settings();
    SelectedBackend selected;
    try {
        selected = select_backend(opts.backend, config);
    } catch (const BackendError& e) {
        std::cerr << "hypertrace: " << e.what() << "\n";
        return 1;
    }
    Backend& backend = *selected.backend;
    std::cerr << "hypertrace: " << selected.why << "\n";
    state.backend = backend.name();

    // Everything the kernel has handed over, into the store; the counters
    // and the BPF cost with it, so a scrape never touches the backend.
    auto fold = [&] {
        // Name the VMs running now (new pids only; vm_resolver.h), before
        // their series are made: a VM that has exited by the time its first
        // series is made can no longer be named.
        resolver->scan_processes();
        std::vector<AggregateEntry> batch = backend.take_aggregates();
        Counters c = backend.counters();
        std::optional<BpfCost> cost = state.backend == "bpf" ? read_bpf_cost() : std::nullopt;
        std::lock_guard<std::mutex> lock(mu);
        for (const AggregateEntry& e : batch)
            store.add(e);
        state.counters = c;
        state.bpf_cost = cost;
        const std::uint64_t expired = store.expired();
        store.expire(std::chrono::steady_clock::now(), process_alive);
        // The resolver keeps every named VM it has seen (vm_resolver.h):
        // start afresh when series went, so memory stays flat as VMs come
        // and go.  Live series keep the labels they were made with.
        if (store.expired() != expired)
            resolver = std::make_unique<VmResolver>();
    };

    SessionHooks hooks;
    hooks.started = [&] {
        server->start();
        std::cerr << "hypertrace: serving metrics on http://" << server->endpoint() << "/metrics" << std::endl;
    };
    hooks.housekeeping_period = kFoldPeriod;
    hooks.housekeeping = fold;
    // A hypercall whose key found no room in the kernel's table arrives as a
    // record: it joins the store exactly as the kernel would have added it.
    RecordSink sink = [&](const ht_record& r) {
        std::lock_guard<std::mutex> lock(mu);
        store.add(r);
    };
    std::optional<std::chrono::nanoseconds> duration;
    if (opts.duration_ns)
        duration = std::chrono::nanoseconds(opts.duration_ns);
    const SessionResult result = run_session(backend, sink, duration, hooks);
    server->stop();
    std::cerr << "hypertrace: stopped serving" << (result.signal ? " (signal)" : "") << "\n";
    return 0;
}

}  // namespace hypertrace
