// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/record_format.h"

#include <time.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "output/exit_reasons.h"

namespace hypertrace {

namespace {

constexpr std::size_t kBufBytes = 64 * 1024;  // written to the stream when full
constexpr std::size_t kMaxRecordBytes = 1024; // generous bound for one line

// --- appenders: write at p, return the new end --------------------------

inline char* put(char* p, const char* s, std::size_t n)
{
    std::memcpy(p, s, n);
    return p + n;
}

template <std::size_t N>
inline char* put(char* p, const char (&lit)[N])
{
    return put(p, lit, N - 1);
}

inline char* put_u64(char* p, std::uint64_t v)
{
    return std::to_chars(p, p + 20, v).ptr;
}

inline char* put_hex(char* p, std::uint64_t v)
{
    p = put(p, "0x");
    return std::to_chars(p, p + 16, v, 16).ptr;
}

// Zero-padded decimal of exactly `width` digits (v < 10^width).
inline char* put_fixed(char* p, std::uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

// Signed difference b - a in ns, as "[-]us.nnn".
inline char* put_usecs(char* p, std::uint64_t a, std::uint64_t b)
{
    std::uint64_t d;
    if (b >= a) {
        d = b - a;
    } else {
        d = a - b;
        *p++ = '-';
    }
    p = put_u64(p, d / 1000);
    *p++ = '.';
    return put_fixed(p, d % 1000, 3);
}

// Signed difference b - a in ns, as a JSON/CSV integer.
inline char* put_diff_ns(char* p, std::uint64_t a, std::uint64_t b)
{
    if (b >= a)
        return put_u64(p, b - a);
    *p++ = '-';
    return put_u64(p, a - b);
}

// Left-align the field that starts at `start` in `width` columns.
inline char* pad_to(char* start, char* p, std::size_t width)
{
    while (static_cast<std::size_t>(p - start) < width)
        *p++ = ' ';
    return p;
}

// Right-align [tmp, tmp_end) in `width` columns.
inline char* put_right(char* p, const char* tmp, const char* tmp_end, std::size_t width)
{
    std::size_t n = static_cast<std::size_t>(tmp_end - tmp);
    for (; n < width; width--)
        *p++ = ' ';
    return put(p, tmp, n);
}

// Common buffering for all formats.
class BufferedWriter : public RecordWriter {
public:
    explicit BufferedWriter(std::ostream& out) : out_(out), buf_(kBufBytes) {}

    void flush() override
    {
        drain();
        out_.flush();
    }
    void finish() override { flush(); }

protected:
    // Room for one more record; returns where to write it.
    char* begin_record()
    {
        if (len_ + kMaxRecordBytes > buf_.size())
            drain();
        return buf_.data() + len_;
    }
    void end_record(char* p) { len_ = static_cast<std::size_t>(p - buf_.data()); }

private:
    void drain()
    {
        if (len_)
            out_.write(buf_.data(), static_cast<std::streamsize>(len_));
        len_ = 0;
    }

    std::ostream& out_;
    std::vector<char> buf_;
    std::size_t len_ = 0;
};

// --- text ---------------------------------------------------------------

// Column widths; the header below is laid out with the same numbers.
constexpr std::size_t kWTime = 15, kWPid = 7, kWTid = 7, kWVcpu = 4, kWNr = 6,
                      kWArg = 18, kWReason = 14, kWExitHc = 11, kWHcEnt = 10,
                      kWLat = 10;

class TextWriter : public BufferedWriter {
public:
    TextWriter(std::ostream& out, const TimeBase& tb) : BufferedWriter(out), tb_(tb)
    {
        char* start = begin_record();
        char* p = start;
        char* f;
        f = p; p = tb_.wall_clock ? put(p, "TIME") : put(p, "TIME(s)"); p = pad_to(f, p, kWTime); *p++ = ' ';
        f = p; p = put(p, "PID"); p = pad_to(f, p, kWPid); *p++ = ' ';
        f = p; p = put(p, "TID"); p = pad_to(f, p, kWTid); *p++ = ' ';
        f = p; p = put(p, "VCPU"); p = pad_to(f, p, kWVcpu); *p++ = ' ';
        f = p; p = put(p, "NR"); p = pad_to(f, p, kWNr); *p++ = ' ';
        static const char* const kArgs[] = {"A0", "A1", "A2", "A3"};
        for (const char* a : kArgs) {
            f = p; p = put(p, a, 2); p = pad_to(f, p, kWArg); *p++ = ' ';
        }
        f = p; p = put(p, "REASON"); p = pad_to(f, p, kWReason); *p++ = ' ';
        static const char kExitHc[] = "EXIT>HC(us)", kHcEnt[] = "HC>ENT(us)",
                          kLat[] = "LAT(us)";
        p = put_right(p, kExitHc, kExitHc + sizeof(kExitHc) - 1, kWExitHc); *p++ = ' ';
        p = put_right(p, kHcEnt, kHcEnt + sizeof(kHcEnt) - 1, kWHcEnt); *p++ = ' ';
        p = put_right(p, kLat, kLat + sizeof(kLat) - 1, kWLat);
        *p++ = '\n';
        end_record(p);
    }

    void write(const ht_record& r) override
    {
        char* p = begin_record();
        char* f = p;
        p = put_time(p, r.t_entry_ns);
        p = pad_to(f, p, kWTime); *p++ = ' ';
        f = p; p = put_u64(p, r.pid); p = pad_to(f, p, kWPid); *p++ = ' ';
        f = p; p = put_u64(p, r.tid); p = pad_to(f, p, kWTid); *p++ = ' ';
        f = p;
        if (r.flags & HT_REC_F_VCPU_UNKNOWN)
            *p++ = '?';
        else
            p = put_u64(p, r.vcpu_id);
        p = pad_to(f, p, kWVcpu); *p++ = ' ';
        f = p; p = put_u64(p, r.nr); p = pad_to(f, p, kWNr); *p++ = ' ';
        for (std::uint64_t a : {r.a0, r.a1, r.a2, r.a3}) {
            f = p; p = put_hex(p, a); p = pad_to(f, p, kWArg); *p++ = ' ';
        }
        f = p;
        if (r.flags & HT_REC_F_REASON_UNKNOWN) {
            *p++ = '?';
        } else {
            const char* name = exit_reason_name(r.isa, r.exit_reason);
            if (std::strcmp(name, "unknown") == 0)
                p = put_hex(p, r.exit_reason);
            else
                p = put(p, name, std::strlen(name));
        }
        p = pad_to(f, p, kWReason); *p++ = ' ';
        char tmp[32];
        p = put_right(p, tmp, put_usecs(tmp, r.t_exit_ns, r.t_hypercall_ns), kWExitHc); *p++ = ' ';
        p = put_right(p, tmp, put_usecs(tmp, r.t_hypercall_ns, r.t_entry_ns), kWHcEnt); *p++ = ' ';
        p = put_right(p, tmp, put_usecs(tmp, r.t_exit_ns, r.t_entry_ns), kWLat);
        *p++ = '\n';
        end_record(p);
    }

private:
    char* put_time(char* p, std::uint64_t t)
    {
        if (!tb_.wall_clock) {
            // Seconds since start, microsecond resolution; records from just
            // before the start (already in the ring) come out negative.
            std::uint64_t d;
            if (t >= tb_.start_mono_ns) {
                d = t - tb_.start_mono_ns;
            } else {
                d = tb_.start_mono_ns - t;
                *p++ = '-';
            }
            p = put_u64(p, d / 1000000000u);
            *p++ = '.';
            return put_fixed(p, d % 1000000000u / 1000u, 6);
        }
        std::int64_t w = static_cast<std::int64_t>(t) + tb_.wall_offset_ns;
        if (w < 0)
            w = 0;
        std::int64_t sec = w / 1000000000;
        // localtime_r is costly; records arrive in time order, so one call
        // per second of trace is enough.
        if (sec != cached_sec_) {
            time_t tt = static_cast<time_t>(sec);
            struct tm tm;
            localtime_r(&tt, &tm);
            char* c = cached_hms_;
            c = put_fixed(c, static_cast<std::uint64_t>(tm.tm_hour), 2); *c++ = ':';
            c = put_fixed(c, static_cast<std::uint64_t>(tm.tm_min), 2); *c++ = ':';
            put_fixed(c, static_cast<std::uint64_t>(tm.tm_sec), 2);
            cached_sec_ = sec;
        }
        p = put(p, cached_hms_, 8);
        *p++ = '.';
        return put_fixed(p, static_cast<std::uint64_t>(w % 1000000000) / 1000u, 6);
    }

    TimeBase tb_;
    std::int64_t cached_sec_ = -1;
    char cached_hms_[8] = {};
};

// --- JSON lines -------------------------------------------------------------

class JsonWriter : public BufferedWriter {
public:
    using BufferedWriter::BufferedWriter;

    void write(const ht_record& r) override
    {
        char* p = begin_record();
        p = put(p, "{\"pid\":");
        p = put_u64(p, r.pid);
        p = put(p, ",\"tid\":");
        p = put_u64(p, r.tid);
        p = put(p, ",\"vcpu\":");
        p = (r.flags & HT_REC_F_VCPU_UNKNOWN) ? put(p, "null") : put_u64(p, r.vcpu_id);
        p = put(p, ",\"cpu\":");
        p = put_u64(p, r.cpu);
        p = put(p, ",\"nr\":");
        p = put_u64(p, r.nr);
        p = put(p, ",\"a0\":");
        p = put_u64(p, r.a0);
        p = put(p, ",\"a1\":");
        p = put_u64(p, r.a1);
        p = put(p, ",\"a2\":");
        p = put_u64(p, r.a2);
        p = put(p, ",\"a3\":");
        p = put_u64(p, r.a3);
        p = put(p, ",\"isa\":");
        p = put_u64(p, r.isa);
        p = put(p, ",\"exit_reason\":");
        p = (r.flags & HT_REC_F_REASON_UNKNOWN) ? put(p, "null") : put_u64(p, r.exit_reason);
        p = put(p, ",\"t_exit_ns\":");
        p = put_u64(p, r.t_exit_ns);
        p = put(p, ",\"t_hypercall_ns\":");
        p = put_u64(p, r.t_hypercall_ns);
        p = put(p, ",\"t_entry_ns\":");
        p = put_u64(p, r.t_entry_ns);
        p = put(p, ",\"latency_ns\":");
        p = put_diff_ns(p, r.t_exit_ns, r.t_entry_ns);
        p = put(p, "}\n");
        end_record(p);
    }
};

// --- CSV ------------------------------------------------------------------

class CsvWriter : public BufferedWriter {
public:
    explicit CsvWriter(std::ostream& out) : BufferedWriter(out)
    {
        char* p = begin_record();
        p = put(p, "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,"
                   "t_exit_ns,t_hypercall_ns,t_entry_ns,latency_ns\n");
        end_record(p);
    }

    void write(const ht_record& r) override
    {
        char* p = begin_record();
        p = put_u64(p, r.pid); *p++ = ',';
        p = put_u64(p, r.tid); *p++ = ',';
        if (!(r.flags & HT_REC_F_VCPU_UNKNOWN))
            p = put_u64(p, r.vcpu_id);
        *p++ = ',';
        p = put_u64(p, r.cpu); *p++ = ',';
        p = put_u64(p, r.nr); *p++ = ',';
        p = put_u64(p, r.a0); *p++ = ',';
        p = put_u64(p, r.a1); *p++ = ',';
        p = put_u64(p, r.a2); *p++ = ',';
        p = put_u64(p, r.a3); *p++ = ',';
        p = put_u64(p, r.isa); *p++ = ',';
        if (!(r.flags & HT_REC_F_REASON_UNKNOWN))
            p = put_u64(p, r.exit_reason);
        *p++ = ',';
        p = put_u64(p, r.t_exit_ns); *p++ = ',';
        p = put_u64(p, r.t_hypercall_ns); *p++ = ',';
        p = put_u64(p, r.t_entry_ns); *p++ = ',';
        p = put_diff_ns(p, r.t_exit_ns, r.t_entry_ns);
        *p++ = '\n';
        end_record(p);
    }
};

}  // namespace

TimeBase TimeBase::now(bool wall_clock)
{
    auto ns = [](const timespec& ts) {
        return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    };
    timespec m1, rt, m2;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    TimeBase tb;
    tb.start_mono_ns = static_cast<std::uint64_t>(ns(m2));
    tb.wall_offset_ns = ns(rt) - (ns(m1) + (ns(m2) - ns(m1)) / 2);
    tb.wall_clock = wall_clock;
    return tb;
}

std::unique_ptr<RecordWriter> make_record_writer(Format f, std::ostream& out,
                                                 const TimeBase& tb)
{
    switch (f) {
    case Format::Json:
        return std::make_unique<JsonWriter>(out);
    case Format::Csv:
        return std::make_unique<CsvWriter>(out);
    case Format::Text:
    default:
        return std::make_unique<TextWriter>(out, tb);
    }
}

}  // namespace hypertrace
