// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The exporter's scrape cost by number of series (README "Monitoring"):
// for N series, each with latencies spread over its buckets, the time to
// render /metrics (text 0.0.4 and OpenMetrics) and the time of a whole GET
// /metrics over loopback through the exporter's own HTTP server, median of
// 21 each.  Run by hand: build/tests/unit/ht_scrape_bench [N...]
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/exposition.h"
#include "exporter/http_server.h"
#include "exporter/series_store.h"

extern "C" {
#include "ht_hist.h"
}

using namespace hypertrace;
using Clock = std::chrono::steady_clock;

namespace {

double median_us(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <typename F>
double time_us(F&& f)
{
    std::vector<double> t;
    for (int i = 0; i < 21; i++) {
        const auto a = Clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    }
    return median_us(t);
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::size_t> ns = {10, 100, 1000, 5000, 20000};
    if (argc > 1) {
        ns.clear();
        for (int i = 1; i < argc; i++)
            ns.push_back(std::strtoul(argv[i], nullptr, 10));
    }
    std::printf(
        "| series | text bytes | render text (ms) | render OpenMetrics (ms) | GET /metrics over loopback (ms) |\n");
    std::printf("|---:|---:|---:|---:|---:|\n");
    for (std::size_t n : ns) {
        SeriesStore store(n, std::chrono::minutes(5), [](std::uint32_t pid, std::uint8_t, std::uint64_t nr) {
            SeriesLabels l;
            l.pid = std::to_string(pid);
            l.vm = "vm-" + std::to_string(pid);
            l.uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
            l.abi = "kvm";
            l.nr = std::to_string(nr);
            l.name = "KVM_HC_SEND_IPI";
            return l;
        });
        for (std::size_t i = 0; i < n; i++) {
            AggregateEntry e;
            e.key.pid = static_cast<__u32>(1000 + i / 100);
            e.key.abi = HT_ABI_KVM;
            e.key.nr = i % 100;
            for (std::uint64_t lat = 300; lat < 50000000; lat *= 3)
                ht_agg_add(&e.value, 0, lat / 2, lat, 0);
            store.add(e);
        }
        ExporterState st;
        st.store = &store;
        st.backend = "bpf";
        std::string out;
        const double text_us = time_us([&] { render_metrics(st, ExpositionFormat::Text004, out); });
        const std::size_t bytes = out.size();
        const double om_us = time_us([&] { render_metrics(st, ExpositionFormat::OpenMetrics100, out); });

        std::mutex mu;
        HttpServer server("127.0.0.1", 0, HttpLimits{}, [&](const std::string& accept, HttpResponse& r) {
            const ExpositionFormat f = negotiate(accept);
            r.content_type = content_type(f);
            std::lock_guard<std::mutex> lock(mu);
            render_metrics(st, f, r.body);
        });
        server.start();
        namespace beast = boost::beast;
        namespace http = beast::http;
        boost::asio::io_context io;
        const double get_us = time_us([&] {
            boost::asio::ip::tcp::socket s(io);
            s.connect({boost::asio::ip::make_address("127.0.0.1"), server.port()});
            http::request<http::empty_body> req(http::verb::get, "/metrics", 11);
            req.set(http::field::host, "127.0.0.1");
            http::write(s, req);
            beast::flat_buffer buf;
            http::response_parser<http::string_body> res;
            res.body_limit(1ull << 32);
            http::read(s, buf, res);
            if (res.get().result_int() != 200 || res.get().body().size() != bytes)
                std::abort();
        });
        server.stop();
        std::printf("| %zu | %zu | %.2f | %.2f | %.2f |\n", n, bytes, text_us / 1000, om_us / 1000, get_us / 1000);
    }
    return 0;
}
