// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve's exposition (exporter/exposition.h) and series store
// (exporter/series_store.h): the formats, label escaping, cumulative
// buckets against the kernel's histogram, negotiation, the series cap and
// the grace period.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/listen_address.h"
#include "exporter/exposition.h"
#include "exporter/series_store.h"

extern "C" {
#include "ht_hist.h"
}

namespace hypertrace {
namespace {

using namespace std::chrono_literals;

SeriesLabels labels_for(std::uint32_t pid, std::uint8_t abi, std::uint64_t nr)
{
    SeriesLabels l;
    l.pid = std::to_string(pid);
    l.vm = "vm" + std::to_string(pid);
    l.abi = abi == HT_ABI_KVM ? "kvm" : "hyperv";
    l.nr = std::to_string(nr);
    return l;
}

AggregateEntry entry(std::uint32_t pid, std::uint64_t nr, const std::vector<std::uint64_t>& latencies_ns)
{
    AggregateEntry e;
    e.key.pid = pid;
    e.key.abi = HT_ABI_KVM;
    e.key.nr = nr;
    for (std::uint64_t lat : latencies_ns)
        ht_agg_add(&e.value, 1000, 1000 + lat / 2, 1000 + lat, 0);
    return e;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle)
{
    std::vector<std::string> r;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos)
            r.push_back(line);
    return r;
}

std::string render(const SeriesStore& store, ExpositionFormat f, Counters c = {})
{
    ExporterState st;
    st.store = &store;
    st.counters = c;
    st.backend = "bpf";
    std::string out;
    render_metrics(st, f, out);
    return out;
}

TEST(Exporter, SecondsAreExactDecimals)
{
    EXPECT_EQ(ns_to_seconds(0), "0");
    EXPECT_EQ(ns_to_seconds(255), "0.000000255");
    EXPECT_EQ(ns_to_seconds(1500), "0.0000015");
    EXPECT_EQ(ns_to_seconds(2000000000), "2");
    EXPECT_EQ(ns_to_seconds(8589934591ull), "8.589934591");
    // Beyond 64 bits: the store sums in 128.
    EXPECT_EQ(ns_to_seconds(static_cast<unsigned __int128>(~0ull) * 10), "184467440737.09551615");
}

TEST(Exporter, LabelValuesEscaped)
{
    EXPECT_EQ(escape_label_value("plain"), "plain");
    EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    SeriesStore store(10, 1s, [](std::uint32_t, std::uint8_t, std::uint64_t) {
        SeriesLabels l;
        l.pid = "1";
        l.vm = "we\"ird\\vm\nname";
        l.abi = "kvm";
        l.nr = "5";
        return l;
    });
    store.add(entry(1, 5, {300}));
    const std::string out = render(store, ExpositionFormat::Text004);
    EXPECT_NE(out.find("vm=\"we\\\"ird\\\\vm\\nname\""), std::string::npos) << out;
    EXPECT_EQ(out.find("we\"ird"), std::string::npos);
}

TEST(Exporter, BucketsAreCumulativeAndExact)
{
    SeriesStore store(10, 1s, labels_for);
    // Latencies on both sides of several power-of-two bounds, one above the
    // last bound (+Inf only), one below the first.
    const std::vector<std::uint64_t> lats = {100, 255, 256, 511, 512, 1000, 4095, 4096, 70000, 20000000000ull};
    store.add(entry(7, 12, lats));
    const std::string out = render(store, ExpositionFormat::Text004);
    const auto buckets = lines_with(out, "hypertrace_hypercall_duration_seconds_bucket{pid=\"7\"");
    ASSERT_EQ(buckets.size(), kBounds + 1);
    for (std::size_t j = 0; j < kBounds; j++) {
        std::uint64_t expect = 0;
        for (std::uint64_t l : lats)
            expect += l <= bucket_le_ns(j);
        const std::string le = "le=\"" + ns_to_seconds(bucket_le_ns(j)) + "\"} " + std::to_string(expect);
        EXPECT_NE(buckets[j].find(le), std::string::npos) << buckets[j] << " want " << le;
    }
    EXPECT_NE(buckets.back().find("le=\"+Inf\"} 10"), std::string::npos) << buckets.back();
    std::uint64_t sum = 0;
    for (std::uint64_t l : lats)
        sum += l;
    EXPECT_EQ(lines_with(out, "_sum{pid=\"7\"")[0].substr(lines_with(out, "_sum{pid=\"7\"")[0].rfind(' ') + 1),
              ns_to_seconds(sum));
    EXPECT_NE(lines_with(out, "_count{pid=\"7\"")[0].find("} 10"), std::string::npos);
    EXPECT_NE(lines_with(out, "hypertrace_hypercalls_total{pid=\"7\"")[0].find("} 10"), std::string::npos);
    // The first bound is 2^8 - 1 ns, the last 2^33 - 1 ns.
    EXPECT_NE(buckets.front().find("le=\"0.000000255\""), std::string::npos);
    EXPECT_NE(buckets[kBounds - 1].find("le=\"8.589934591\""), std::string::npos);
}

TEST(Exporter, CumulativeAcrossTakesNeverReset)
{
    SeriesStore store(10, 1s, labels_for);
    store.add(entry(3, 1, {1000, 2000}));
    const std::string first = render(store, ExpositionFormat::Text004);
    EXPECT_NE(lines_with(first, "_count{pid=\"3\"")[0].find("} 2"), std::string::npos);
    const std::string again = render(store, ExpositionFormat::Text004);  // a scrape changes nothing
    EXPECT_EQ(first, again);
    store.add(entry(3, 1, {3000}));  // the next take
    ht_record r{};
    r.pid = 3;
    r.abi = HT_ABI_KVM;
    r.nr = 1;
    r.t_exit_ns = 10;
    r.t_hypercall_ns = 20;
    r.t_entry_ns = 510;  // a record (no room in the kernel's table): 500 ns
    store.add(r);
    const std::string later = render(store, ExpositionFormat::Text004);
    EXPECT_NE(lines_with(later, "_count{pid=\"3\"")[0].find("} 4"), std::string::npos);
    EXPECT_NE(lines_with(later, "_sum{pid=\"3\"")[0].find("} 0.0000065"), std::string::npos) << later;
}

TEST(Exporter, TextAndOpenMetricsFamilies)
{
    SeriesStore store(10, 1s, labels_for);
    store.add(entry(1, 2, {700}));
    Counters c{};
    c[HT_CNT_HYPERCALLS] = 5;
    c[HT_CNT_DROPPED] = 1;
    c[HT_CNT_UNMATCHED_HYPERCALL] = 2;
    const std::string text = render(store, ExpositionFormat::Text004, c);
    EXPECT_NE(text.find("# TYPE hypertrace_hypercalls_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE hypertrace_hypercall_duration_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("\nhypertrace_dropped_total 1\n"), std::string::npos);
    EXPECT_NE(text.find("\nhypertrace_unmatched_total 2\n"), std::string::npos);
    EXPECT_NE(text.find("\nhypertrace_kernel_hypercalls_total 5\n"), std::string::npos);
    EXPECT_EQ(text.find("# EOF"), std::string::npos);
    EXPECT_EQ(text.find("# UNIT"), std::string::npos);
    const std::string om = render(store, ExpositionFormat::OpenMetrics100, c);
    EXPECT_NE(om.find("# TYPE hypertrace_hypercalls counter\n"), std::string::npos);
    EXPECT_EQ(om.find("# TYPE hypertrace_hypercalls_total"), std::string::npos);
    EXPECT_NE(om.find("# UNIT hypertrace_hypercall_duration_seconds seconds\n"), std::string::npos);
    ASSERT_GE(om.size(), 6u);
    EXPECT_EQ(om.substr(om.size() - 6), "# EOF\n");
    EXPECT_EQ(om.find("# EOF"), om.size() - 6);  // once, last
    EXPECT_NE(om.find("\nhypertrace_dropped_total 1\n"), std::string::npos);
    // Every line ends with '\n' and none is empty (both formats).
    for (const std::string* t : {&text, &om}) {
        EXPECT_EQ(t->back(), '\n');
        EXPECT_EQ(t->find("\n\n"), std::string::npos);
    }
}

TEST(Exporter, Negotiation)
{
    EXPECT_EQ(negotiate(""), ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("*/*"), ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("text/plain"), ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("application/openmetrics-text"), ExpositionFormat::OpenMetrics100);
    // Prometheus 2.42's scrape header.
    EXPECT_EQ(negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
                        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              ExpositionFormat::OpenMetrics100);
    // q decides, not the order.
    EXPECT_EQ(negotiate("application/openmetrics-text; version=1.0.0; q=0.2, text/plain; version=0.0.4; q=0.9"),
              ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("text/plain;version=0.0.4;q=0.3,Application/OpenMetrics-Text;q=0.6"),
              ExpositionFormat::OpenMetrics100);
    // Unsupported versions and q=0 are not chosen.
    EXPECT_EQ(negotiate("application/openmetrics-text;version=2.0.0"), ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("application/openmetrics-text;q=0"), ExpositionFormat::Text004);
    EXPECT_EQ(negotiate("application/json"), ExpositionFormat::Text004);
    EXPECT_STREQ(content_type(ExpositionFormat::OpenMetrics100),
                 "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_STREQ(content_type(ExpositionFormat::Text004), "text/plain; version=0.0.4; charset=utf-8");
}

TEST(Exporter, SeriesCapOverflows)
{
    int named = 0;
    SeriesStore store(2, 1s, [&named](std::uint32_t pid, std::uint8_t abi, std::uint64_t nr) {
        named++;
        return labels_for(pid, abi, nr);
    });
    store.add(entry(1, 1, {300}));
    store.add(entry(1, 2, {300, 300}));
    store.add(entry(1, 3, {300, 300, 300}));  // a third key: overflow
    store.add(entry(2, 1, {5000}));           // a fourth: overflow
    store.add(entry(1, 1, {300}));            // an existing key still has its series
    EXPECT_EQ(named, 2);
    EXPECT_EQ(store.series().size(), 2u);
    EXPECT_EQ(store.overflow_hypercalls(), 4u);
    const std::string out = render(store, ExpositionFormat::Text004);
    EXPECT_NE(
        out.find("hypertrace_hypercalls_total{pid=\"\",vm=\"_overflow_\",uuid=\"\",abi=\"\",nr=\"\",name=\"\"} 4"),
        std::string::npos)
        << out;
    EXPECT_NE(out.find("\nhypertrace_series_overflow_hypercalls_total 4\n"), std::string::npos);
    EXPECT_NE(out.find("\nhypertrace_series 2\n"), std::string::npos);
    EXPECT_NE(out.find("\nhypertrace_series_limit 2\n"), std::string::npos);
    EXPECT_NE(
        lines_with(out, "hypertrace_hypercalls_total{pid=\"1\",vm=\"vm1\",uuid=\"\",abi=\"kvm\",nr=\"1\"")[0].find(
            "} 2"),
        std::string::npos);
}

TEST(Exporter, GoneSeriesExpireAfterGrace)
{
    SeriesStore store(10, 5s, labels_for);
    store.add(entry(1, 1, {300}));
    store.add(entry(2, 1, {300}));
    bool one_alive = true;
    auto alive = [&one_alive](std::uint32_t pid) { return pid == 2 || one_alive; };
    const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
    store.expire(t0, alive);
    EXPECT_EQ(store.series().size(), 2u);
    one_alive = false;
    store.expire(t0 + 1s, alive);  // marked gone
    store.expire(t0 + 5s, alive);  // 4 s gone: kept
    EXPECT_EQ(store.series().size(), 2u);
    store.expire(t0 + 6s, alive);  // 5 s gone: dropped
    EXPECT_EQ(store.series().size(), 1u);
    EXPECT_EQ(std::get<0>(store.series().begin()->first), 2u);
    EXPECT_EQ(store.expired(), 1u);
    // A pid that comes back within the grace period is not dropped.
    store.add(entry(3, 1, {300}));
    bool three = false;
    auto alive3 = [&three](std::uint32_t pid) { return pid != 3 || three; };
    store.expire(t0 + 10s, alive3);
    three = true;
    store.expire(t0 + 12s, alive3);
    three = false;
    store.expire(t0 + 13s, alive3);
    store.expire(t0 + 17s, alive3);
    EXPECT_EQ(store.series().count({3, HT_ABI_KVM, 1}), 1u);
    store.expire(t0 + 18s, alive3);
    EXPECT_EQ(store.series().count({3, HT_ABI_KVM, 1}), 0u);
    const std::string out = render(store, ExpositionFormat::Text004);
    EXPECT_NE(out.find("\nhypertrace_series_expired_total 2\n"), std::string::npos);
}

TEST(Exporter, ListenAddress)
{
    EXPECT_EQ(parse_listen_address("9857"), std::make_pair(std::string(), std::uint16_t{9857}));
    EXPECT_EQ(parse_listen_address(":9857"), std::make_pair(std::string(), std::uint16_t{9857}));
    EXPECT_EQ(parse_listen_address("127.0.0.1:80"), std::make_pair(std::string("127.0.0.1"), std::uint16_t{80}));
    EXPECT_EQ(parse_listen_address("[::1]:9857"), std::make_pair(std::string("::1"), std::uint16_t{9857}));
    for (const char* bad : {"", ":", ":0", ":65536", "::1:80", "[::1]", "localhost:80", "1.2.3.4:x", "[::1]80"})
        EXPECT_THROW(parse_listen_address(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace hypertrace
