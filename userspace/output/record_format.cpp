// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/record_format.h"

#include <time.h>

#include <array>
#include <cstring>
#include <string_view>
#include <vector>

#include "names/hypercall_lookup.h"
#include "output/chrome_trace.h"
#include "output/exit_reasons.h"

namespace hypertrace {

namespace {

// Written to the stream when full, and at every flush(): the session
// flushes after each pass over the ring (at most 1024 records, about 300 KB
// of text), so a pass leaves in one write(2).
constexpr std::size_t kBufBytes = 512 * 1024;
constexpr std::size_t kMaxRecordBytes = 1024;  // generous bound for one line

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

// Integers are the bulk of every record (15 per JSON line): with
// std::to_chars, two digits per step, they took 70 % of the JSON writer's
// instructions (tests/bench/reader-insns).  Here up to 8 digits are made at
// once in one 64-bit word, by multiply-shift divisions that work on all
// lanes in parallel: about 25 instructions whatever the length.
//
// The 8 decimal digits of v < 10^8, zero-padded, as byte values 0..9 in
// little-endian memory order (the first digit in the lowest byte).
inline std::uint64_t digits8(std::uint32_t v)
{
    // Two 32-bit lanes: the first four digits, then the last four.
    std::uint64_t x = v / 10000 | static_cast<std::uint64_t>(v % 10000) << 32;
    // Each lane (< 10^4) into two 16-bit lanes (< 100): lane / 100 is
    // lane * 10486 >> 20, exact below 10^4, and the product stays in its lane.
    std::uint64_t q = (x * 10486 >> 20) & 0x0000007f0000007full;
    x = q | (x - q * 100) << 16;
    // Each 16-bit lane (< 100) into two bytes: lane / 10 is lane * 103 >> 10,
    // exact below 100 (tests/unit/test_format.cpp checks every value).
    q = (x * 103 >> 10) & 0x000f000f000f000full;
    return q | (x - q * 10) << 8;
}

// Store the 8 bytes of x at p in little-endian order.
inline void store8(char* p, std::uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    std::memcpy(p, &x, 8);
}

constexpr std::uint64_t kAsciiZeros = 0x3030303030303030ull;

// v < 10^4 as 4 digit bytes 0..9, the same method in one 32-bit word.
inline std::uint32_t digits4(std::uint32_t v)
{
    std::uint32_t q = v * 5243 >> 19;  // v / 100, exact below 10^4 (v * 5243 < 2^32)
    std::uint32_t x = q | (v - q * 100) << 16;
    q = (x * 103 >> 10) & 0x000f000fu;
    return q | (x - q * 10) << 8;
}

// "00" to "99".
constexpr struct DigitPairs {
    char c[200];
    constexpr DigitPairs() : c()
    {
        for (int i = 0; i < 100; i++) {
            c[2 * i] = static_cast<char>('0' + i / 10);
            c[2 * i + 1] = static_cast<char>('0' + i % 10);
        }
    }
} kDigitPairs;

// v < 10^8 without leading zeros, by size: most fields (pid, tid, nr,
// vcpu, the arguments) are short.  Stores up to 8 bytes at p whatever the
// length: callers leave room (kMaxRecordBytes is far above a record's size).
__attribute__((always_inline)) inline char* put_u32_short(char* p, std::uint32_t v)
{
    if (v < 10) {
        *p = static_cast<char>('0' + v);
        return p + 1;
    }
    if (v < 100) {
        std::memcpy(p, kDigitPairs.c + 2 * v, 2);
        return p + 2;
    }
    if (v < 10000) {
        std::uint32_t x = digits4(v);
        const int lead = __builtin_ctz(x) / 8;  // leading zero digits (x != 0)
        x = x >> (8 * lead) | 0x30303030u;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        x = __builtin_bswap32(x);
#endif
        std::memcpy(p, &x, 4);
        return p + 4 - lead;
    }
    const std::uint64_t x = digits8(v);
    const int lead = __builtin_ctzll(x) / 8;
    store8(p, x >> (8 * lead) | kAsciiZeros);
    return p + 8 - lead;
}

// Exactly 8 digits of v < 10^8.
inline char* put_digits8(char* p, std::uint32_t v)
{
    store8(p, digits8(v) | kAsciiZeros);
    return p + 8;
}

char* put_u64_long(char* p, std::uint64_t v);

// Decimal, as std::to_chars.  May store up to 7 bytes past the end.  Inline
// up to 8 digits (a call costs more than the shortest conversions).
__attribute__((always_inline)) inline char* put_u64(char* p, std::uint64_t v)
{
    if (v < 100000000)
        return put_u32_short(p, static_cast<std::uint32_t>(v));
    return put_u64_long(p, v);
}

// v >= 10^8.
__attribute__((noinline)) char* put_u64_long(char* p, std::uint64_t v)
{
    constexpr std::uint64_t e8 = 100000000, e16 = e8 * e8;
    if (v < e16) {
        const std::uint64_t hi = v / e8;
        p = put_u32_short(p, static_cast<std::uint32_t>(hi));
        return put_digits8(p, static_cast<std::uint32_t>(v - hi * e8));
    }
    const std::uint64_t top = v / e16, rest = v - top * e16, mid = rest / e8;
    p = put_u32_short(p, static_cast<std::uint32_t>(top));  // <= 1844
    p = put_digits8(p, static_cast<std::uint32_t>(mid));
    return put_digits8(p, static_cast<std::uint32_t>(rest - mid * e8));
}

// Timestamps (CLOCK_MONOTONIC ns, 10 to 16 digits) for JSON and CSV: the
// digits above the last 8 change every 0.1 s, so the last ones made are
// kept and copied (three timestamps per record, in time order).
class TimestampDigits {
public:
    char* put(char* p, std::uint64_t v)
    {
        constexpr std::uint64_t e8 = 100000000, e16 = e8 * e8;
        if (v < e8 || v >= e16)
            return put_u64(p, v);
        const std::uint64_t hi = v / e8;
        if (hi != hi_) {
            hi_ = hi;
            hi_len_ = static_cast<std::size_t>(put_u32_short(hi_text_, static_cast<std::uint32_t>(hi)) - hi_text_);
        }
        std::memcpy(p, hi_text_, 8);  // hi < 10^8: at most 8 digits
        return put_digits8(p + hi_len_, static_cast<std::uint32_t>(v - hi * e8));
    }

private:
    std::uint64_t hi_ = 0;  // 0 never matches: v >= 10^8 has hi >= 1
    std::size_t hi_len_ = 0;
    char hi_text_[16] = {};
};

// "0x" then lowercase hex without leading zeros, as std::to_chars base 16.
inline char* put_hex(char* p, std::uint64_t v)
{
    static constexpr char kHex[] = "0123456789abcdef";
    p = put(p, "0x");
    const int n = (64 - __builtin_clzll(v | 1) + 3) / 4;
    for (int i = n - 1; i >= 0; i--) {
        p[i] = kHex[v & 15];
        v >>= 4;
    }
    return p + n;
}

// Zero-padded decimal of exactly `width` digits (v < 10^width, width <= 8).
// Stores 8 bytes at p.
inline char* put_fixed(char* p, std::uint64_t v, int width)
{
    store8(p, (digits8(static_cast<std::uint32_t>(v)) | kAsciiZeros) >> (8 * (8 - width)));
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

constexpr char kSpaces[33] = "                                ";

// Left-align the field that starts at `start` in `width` (<= 32) columns.
// Stores 32 bytes at p: a fixed-size copy costs two vector stores, a
// byte-per-column loop a dozen instructions per column.
inline char* pad_to(char* start, char* p, std::size_t width)
{
    std::memcpy(p, kSpaces, 32);
    char* end = start + width;
    return p < end ? end : p;
}

// Right-align [tmp, tmp_end) in `width` (<= 32) columns.  The text is at
// most 32 bytes and tmp holds 32 readable bytes; stores up to 64 bytes at p.
inline char* put_right(char* p, const char* tmp, const char* tmp_end, std::size_t width)
{
    const std::size_t n = static_cast<std::size_t>(tmp_end - tmp);
    std::memcpy(p, kSpaces, 32);
    if (n < width)
        p += width - n;
    std::memcpy(p, tmp, 32);
    return p + n;
}

// The name of the record's hypercall in its ABI's table, empty when it has
// none.  An array index (hypercall_lookup.h), and the writers call it only
// when the "who" run below changes (its key holds the ABI), not per record.
inline std::string_view record_name(const ht_record& r) { return hypercall_name_of(r.abi, r.nr); }

// A trace repeats most fields from record to record: one vCPU thread's
// records share pid, tid, vcpu, cpu and nr, and a workload often passes the
// same a1..a3.  So each writer keeps the text of two runs of fields, "who"
// (pid, tid, vcpu, cpu, nr and so the name) and "what" (a1..a3, isa, exit
// reason), with the
// values it was made from, and copies it while they repeat: a compare and a
// fixed-size copy instead of five conversions.  A change of any value
// (records of interleaved vCPUs) makes the text again.
// The text's A0..A3: KVM's and Xen's a0..a3; for Hyper-V, whose record has
// none, the inputs a TLFS hypercall names besides its code: input GPA,
// output GPA, rep count and rep start index (JSON and CSV keep them in their
// hv_* fields and a0..a3 as recorded).
std::array<std::uint64_t, 4> text_args(const ht_record& r)
{
    if (r.abi == HT_ABI_HYPERV)
        return {r.hv_ingpa, r.hv_outgpa, r.hv_rep_cnt, r.hv_rep_idx};
    return {r.a0, r.a1, r.a2, r.a3};
}

class FieldRun {
public:
    using Key = std::array<std::uint64_t, 4>;

    static Key who(const ht_record& r)
    {
        // The ABI is part of "who": the same nr names a different call in
        // each ABI (0x5c is HvCallPostMessage, not a KVM hypercall).
        return {r.pid | std::uint64_t{r.tid} << 32, r.vcpu_id | std::uint64_t{r.cpu} << 32, r.nr,
                (r.flags & HT_REC_F_VCPU_UNKNOWN) | std::uint64_t{r.abi} << 32};
    }
    static Key what(const ht_record& r)
    {
        const auto a = text_args(r);
        return {a[1], a[2], a[3],
                r.exit_reason | std::uint64_t{r.isa} << 32 | std::uint64_t{r.flags & HT_REC_F_REASON_UNKNOWN} << 40};
    }

    // The text for `key`, made by make(char*) -> end when the key changed.
    template <class Make>
    char* put(char* p, const Key& key, Make&& make)
    {
        if (!valid_ || ((key[0] ^ key_[0]) | (key[1] ^ key_[1]) | (key[2] ^ key_[2]) | (key[3] ^ key_[3]))) {
            len_ = static_cast<std::size_t>(make(text_) - text_);
            key_ = key;
            valid_ = true;
        }
        if (len_ <= kCopy) {
            std::memcpy(p, text_, kCopy);  // fixed size: a few vector moves
            return p + len_;
        }
        return hypertrace::put(p, text_, len_);
    }

private:
    static constexpr std::size_t kCopy = 128;
    Key key_{};
    bool valid_ = false;
    std::size_t len_ = 0;
    char text_[512] = {};  // the longest run (about 130 bytes) and the appenders' stores past it
};

// Common buffering for all formats.
class BufferedWriter : public RecordWriter {
public:
    BufferedWriter(std::ostream& out, Format f, VmColumns* vms)
        : out_(out), buf_(kBufBytes), vms_(vms ? vms : &own_vms_), own_vms_(f, nullptr)
    {
    }

    void flush() override
    {
        drain();
        out_.flush();
    }
    void finish() override { flush(); }

protected:
    // Room for one more record and `extra` bytes more; returns where to
    // write it.
    char* begin_record(std::size_t extra = 0)
    {
        if (len_ + kMaxRecordBytes + extra > buf_.size())
            drain();
        return buf_.data() + len_;
    }
    // The record's VM columns (vm_columns.h): a compare with the last
    // thread, or a lookup; the text is made once per thread.
    const std::string& vm_tail(const ht_record& r) { return vms_->get(r.pid, r.tid).text; }
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
    VmColumns* vms_;
    VmColumns own_vms_;  // without a resolver: every VM unknown
};

// --- record version 2: the ABI and the VMM-served split -------------------

inline bool vmm_served(const ht_record& r) { return (r.flags & HT_REC_F_VMM_SERVED) != 0; }

// JSON's and CSV's fields after latency_ns, in this order: abi, a4, a5,
// hv_fast, hv_rep_cnt, hv_rep_idx, hv_var_cnt, hv_ingpa, hv_outgpa,
// hv_result, t_userspace_exit_ns, uexit_reason, vmm_ns, served_by.  `null`
// is what an unknown value prints as (JSON "null", CSV empty); `key(name)`
// what precedes a field (JSON ",\"name\":", CSV ",").
template <class Key>
char* put_v2_fields(char* p, const ht_record& r, std::string_view null, Key&& key, bool quote)
{
    auto str = [&](const char* v) {
        if (quote)
            *p++ = '"';
        p = put(p, v, std::strlen(v));
        if (quote)
            *p++ = '"';
    };
    p = key(p, "abi");
    str(abi_name(r.abi));
    for (auto [name, v] : {std::pair<const char*, std::uint64_t>{"a4", r.a4},
                           {"a5", r.a5},
                           {"hv_fast", r.hv_fast},
                           {"hv_rep_cnt", r.hv_rep_cnt},
                           {"hv_rep_idx", r.hv_rep_idx},
                           {"hv_var_cnt", r.hv_var_cnt},
                           {"hv_ingpa", r.hv_ingpa},
                           {"hv_outgpa", r.hv_outgpa}}) {
        p = key(p, name);
        p = put_u64(p, v);
    }
    p = key(p, "hv_result");
    p = (r.flags & HT_REC_F_HV_RESULT) ? put_u64(p, r.hv_result) : put(p, null.data(), null.size());
    const bool uexit = r.t_userspace_exit_ns != 0;
    p = key(p, "t_userspace_exit_ns");
    p = uexit ? put_u64(p, r.t_userspace_exit_ns) : put(p, null.data(), null.size());
    p = key(p, "uexit_reason");
    p = uexit ? put_u64(p, r.uexit_reason) : put(p, null.data(), null.size());
    p = key(p, "vmm_ns");
    p = uexit ? put_diff_ns(p, r.t_userspace_exit_ns, r.t_entry_ns) : put(p, null.data(), null.size());
    p = key(p, "served_by");
    str(vmm_served(r) ? "vmm" : "kernel");
    return p;
}

// --- text ---------------------------------------------------------------

// Column widths; the header below is laid out with the same numbers.
// NAME is 26 wide: the longest KVM names, KVM_HC_MIPS_GET_CLOCK_FREQ and
// KVM_HC_MIPS_CONSOLE_OUTPUT, fit, so KVM's lines stay aligned.  Longer
// names (Hyper-V's, up to 39 characters) push the rest of their line
// right rather than being cut: a name must stay whole to be grep'able.
constexpr std::size_t kWTime = 15, kWPid = 7, kWTid = 7, kWVcpu = 4, kWNr = 6, kWName = 26, kWArg = 18, kWReason = 14,
                      kWExitHc = 11, kWHcEnt = 10, kWLat = 10, kWAbi = 6, kWVmm = 10;

class TextWriter : public BufferedWriter {
public:
    TextWriter(std::ostream& out, const TimeBase& tb, VmColumns* vms) : BufferedWriter(out, Format::Text, vms), tb_(tb)
    {
        char* p = begin_record();
        // A heading, left-aligned and padded to its column's width, then the
        // separator: as write() lays out the values.
        auto column = [&p](std::string_view name, std::size_t width) {
            char* f = p;
            p = put(p, name.data(), name.size());
            p = pad_to(f, p, width);
            *p++ = ' ';
        };
        column(tb_.wall_clock ? "TIME" : "TIME(s)", kWTime);
        column("PID", kWPid);
        column("TID", kWTid);
        column("VCPU", kWVcpu);
        column("NR", kWNr);
        column("NAME", kWName);
        for (const char* a : {"A0", "A1", "A2", "A3"})
            column(a, kWArg);
        column("REASON", kWReason);
        // 32 readable bytes each, as put_right reads.
        static const char kExitHc[32] = "EXIT>HC(us)", kHcEnt[32] = "HC>ENT(us)", kLat[32] = "LAT(us)";
        p = put_right(p, kExitHc, kExitHc + std::strlen(kExitHc), kWExitHc);
        *p++ = ' ';
        p = put_right(p, kHcEnt, kHcEnt + std::strlen(kHcEnt), kWHcEnt);
        *p++ = ' ';
        p = put_right(p, kLat, kLat + std::strlen(kLat), kWLat);
        *p++ = ' ';
        // ABI, then the VMM's part of LAT (entry - kvm_userspace_exit), "-"
        // when the call never went back to the VMM.
        static const char kVmm[32] = "VMM(us)";
        column("ABI", kWAbi);
        p = put_right(p, kVmm, kVmm + std::strlen(kVmm), kWVmm);
        // VM columns last: the name may hold spaces (vm_columns.h).
        p = put(p, " VIDX VM\n");
        end_record(p);
    }

    void write(const ht_record& r) override
    {
        const std::string& tail = vm_tail(r);
        char* p = begin_record(tail.size());
        char* f = p;
        p = put_time(p, r.t_entry_ns);
        p = pad_to(f, p, kWTime);
        *p++ = ' ';
        p = who_.put(p, FieldRun::who(r), [&r](char* q) {
            char* g = q;
            q = put_u64(q, r.pid);
            q = pad_to(g, q, kWPid);
            *q++ = ' ';
            g = q;
            q = put_u64(q, r.tid);
            q = pad_to(g, q, kWTid);
            *q++ = ' ';
            g = q;
            if (r.flags & HT_REC_F_VCPU_UNKNOWN)
                *q++ = '?';
            else
                q = put_u64(q, r.vcpu_id);
            q = pad_to(g, q, kWVcpu);
            *q++ = ' ';
            g = q;
            q = put_u64(q, r.nr);
            q = pad_to(g, q, kWNr);
            *q++ = ' ';
            g = q;
            // "-" for no name: the column is never empty, so the line
            // splits on blanks into the same fields whatever the nr.
            const std::string_view name = record_name(r);
            q = name.empty() ? put(q, "-") : put(q, name.data(), name.size());
            q = pad_to(g, q, kWName);
            *q++ = ' ';
            return q;
        });
        const auto args = text_args(r);
        f = p;
        p = put_hex(p, args[0]);
        p = pad_to(f, p, kWArg);
        *p++ = ' ';
        p = what_.put(p, FieldRun::what(r), [&r, &args](char* q) {
            for (std::uint64_t a : {args[1], args[2], args[3]}) {
                char* g = q;
                q = put_hex(q, a);
                q = pad_to(g, q, kWArg);
                *q++ = ' ';
            }
            char* g = q;
            if (r.flags & HT_REC_F_REASON_UNKNOWN)
                *q++ = '?';
            else
                q = put_reason(q, r.isa, r.exit_reason);
            q = pad_to(g, q, kWReason);
            *q++ = ' ';
            return q;
        });
        char tmp[64];
        p = put_right(p, tmp, put_usecs(tmp, r.t_exit_ns, r.t_hypercall_ns), kWExitHc);
        *p++ = ' ';
        p = put_right(p, tmp, put_usecs(tmp, r.t_hypercall_ns, r.t_entry_ns), kWHcEnt);
        *p++ = ' ';
        p = put_right(p, tmp, put_usecs(tmp, r.t_exit_ns, r.t_entry_ns), kWLat);
        *p++ = ' ';
        f = p;
        const char* abi = abi_name(r.abi);
        p = put(p, abi, std::strlen(abi));
        p = pad_to(f, p, kWAbi);
        *p++ = ' ';
        if (r.t_userspace_exit_ns) {
            p = put_right(p, tmp, put_usecs(tmp, r.t_userspace_exit_ns, r.t_entry_ns), kWVmm);
        } else {
            std::memset(tmp, ' ', sizeof tmp);
            tmp[0] = '-';
            p = put_right(p, tmp, tmp + 1, kWVmm);
        }
        p = put(p, tail.data(), tail.size());
        *p++ = '\n';
        end_record(p);
    }

private:
    // The name from exit_reasons.h, or the code in hex when it has none.
    static char* put_reason(char* p, std::uint8_t isa, std::uint32_t reason)
    {
        const char* name = exit_reason_name(isa, reason);
        if (std::strcmp(name, "unknown") == 0)
            return put_hex(p, reason);
        return put(p, name, std::strlen(name));
    }

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
            c = put_fixed(c, static_cast<std::uint64_t>(tm.tm_hour), 2);
            *c++ = ':';
            c = put_fixed(c, static_cast<std::uint64_t>(tm.tm_min), 2);
            *c++ = ':';
            put_fixed(c, static_cast<std::uint64_t>(tm.tm_sec), 2);
            cached_sec_ = sec;
        }
        p = put(p, cached_hms_, 8);
        *p++ = '.';
        return put_fixed(p, static_cast<std::uint64_t>(w % 1000000000) / 1000u, 6);
    }

    FieldRun who_, what_;
    TimeBase tb_;
    std::int64_t cached_sec_ = -1;
    char cached_hms_[16] = {};  // HH:MM:SS, and room for put_fixed's 8-byte stores
};

// --- JSON lines -------------------------------------------------------------

class JsonWriter : public BufferedWriter {
public:
    JsonWriter(std::ostream& out, VmColumns* vms) : BufferedWriter(out, Format::Json, vms) {}

    void write(const ht_record& r) override
    {
        const std::string& tail = vm_tail(r);
        char* p = begin_record(tail.size());
        p = who_.put(p, FieldRun::who(r), [this, &r](char* q) {
            name_ = record_name(r);  // the name follows nr: it changes with the run
            q = put(q, "{\"pid\":");
            q = put_u64(q, r.pid);
            q = put(q, ",\"tid\":");
            q = put_u64(q, r.tid);
            q = put(q, ",\"vcpu\":");
            q = (r.flags & HT_REC_F_VCPU_UNKNOWN) ? put(q, "null") : put_u64(q, r.vcpu_id);
            q = put(q, ",\"cpu\":");
            q = put_u64(q, r.cpu);
            q = put(q, ",\"nr\":");
            q = put_u64(q, r.nr);
            return put(q, ",\"a0\":");
        });
        p = put_u64(p, r.a0);
        p = what_.put(p, FieldRun::what(r), [&r](char* q) {
            q = put(q, ",\"a1\":");
            q = put_u64(q, r.a1);
            q = put(q, ",\"a2\":");
            q = put_u64(q, r.a2);
            q = put(q, ",\"a3\":");
            q = put_u64(q, r.a3);
            q = put(q, ",\"isa\":");
            q = put_u64(q, r.isa);
            q = put(q, ",\"exit_reason\":");
            return (r.flags & HT_REC_F_REASON_UNKNOWN) ? put(q, "null") : put_u64(q, r.exit_reason);
        });
        p = put(p, ",\"t_exit_ns\":");
        p = ts_.put(p, r.t_exit_ns);
        p = put(p, ",\"t_hypercall_ns\":");
        p = ts_.put(p, r.t_hypercall_ns);
        p = put(p, ",\"t_entry_ns\":");
        p = ts_.put(p, r.t_entry_ns);
        p = put(p, ",\"latency_ns\":");
        p = put_diff_ns(p, r.t_exit_ns, r.t_entry_ns);
        // Appended after the fields of the first format, so that consumers
        // of it keep working: the name, record v2's fields, then the VM
        // fields.  Names are
        // [A-Za-z0-9_]: nothing to escape.
        if (name_.empty()) {
            p = put(p, ",\"name\":null");
        } else {
            p = put(p, ",\"name\":\"");
            p = put(p, name_.data(), name_.size());
            *p++ = '"';
        }
        p = put_v2_fields(
            p, r, "null",
            [](char* q, const char* name) {
                q = put(q, ",\"");
                q = put(q, name, std::strlen(name));
                return put(q, "\":");
            },
            true);
        p = put(p, tail.data(), tail.size());
        p = put(p, "}\n");
        end_record(p);
    }

private:
    FieldRun who_, what_;
    TimestampDigits ts_;
    std::string_view name_;  // of the "who" run's nr
};

// --- CSV ------------------------------------------------------------------

class CsvWriter : public BufferedWriter {
public:
    CsvWriter(std::ostream& out, VmColumns* vms) : BufferedWriter(out, Format::Csv, vms)
    {
        char* p = begin_record();
        p = put(p,
                "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,"
                "t_exit_ns,t_hypercall_ns,t_entry_ns,latency_ns,name,"
                "abi,a4,a5,hv_fast,hv_rep_cnt,hv_rep_idx,hv_var_cnt,hv_ingpa,hv_outgpa,hv_result,"
                "t_userspace_exit_ns,uexit_reason,vmm_ns,served_by,vm,vm_uuid,vm_source,vcpu_index\n");
        end_record(p);
    }

    void write(const ht_record& r) override
    {
        const std::string& tail = vm_tail(r);
        char* p = begin_record(tail.size());
        p = who_.put(p, FieldRun::who(r), [this, &r](char* q) {
            name_ = record_name(r);
            q = put_u64(q, r.pid);
            *q++ = ',';
            q = put_u64(q, r.tid);
            *q++ = ',';
            if (!(r.flags & HT_REC_F_VCPU_UNKNOWN))
                q = put_u64(q, r.vcpu_id);
            *q++ = ',';
            q = put_u64(q, r.cpu);
            *q++ = ',';
            q = put_u64(q, r.nr);
            *q++ = ',';
            return q;
        });
        p = put_u64(p, r.a0);
        *p++ = ',';
        p = what_.put(p, FieldRun::what(r), [&r](char* q) {
            q = put_u64(q, r.a1);
            *q++ = ',';
            q = put_u64(q, r.a2);
            *q++ = ',';
            q = put_u64(q, r.a3);
            *q++ = ',';
            q = put_u64(q, r.isa);
            *q++ = ',';
            if (!(r.flags & HT_REC_F_REASON_UNKNOWN))
                q = put_u64(q, r.exit_reason);
            *q++ = ',';
            return q;
        });
        p = ts_.put(p, r.t_exit_ns);
        *p++ = ',';
        p = ts_.put(p, r.t_hypercall_ns);
        *p++ = ',';
        p = ts_.put(p, r.t_entry_ns);
        *p++ = ',';
        p = put_diff_ns(p, r.t_exit_ns, r.t_entry_ns);
        *p++ = ',';  // the name, record v2's fields, then the VM fields, as in JSON; an empty cell when no name
        if (!name_.empty())
            p = put(p, name_.data(), name_.size());
        p = put_v2_fields(
            p, r, "", [](char* q, const char*) { return put(q, ","); }, false);
        p = put(p, tail.data(), tail.size());
        *p++ = '\n';
        end_record(p);
    }

private:
    FieldRun who_, what_;
    TimestampDigits ts_;
    std::string_view name_;  // of the "who" run's nr
};

}  // namespace

// enum ht_abi and HypercallAbi number the ABIs alike (checked here), so a
// record's abi picks its name table directly.
static_assert(static_cast<unsigned>(HypercallAbi::Kvm) == HT_ABI_KVM &&
                  static_cast<unsigned>(HypercallAbi::Hyperv) == HT_ABI_HYPERV &&
                  static_cast<unsigned>(HypercallAbi::Xen) == HT_ABI_XEN && HT_ABI_COUNT == 3,
              "enum ht_abi and HypercallAbi differ");

const char* abi_name(std::uint8_t abi)
{
    return abi < HT_ABI_COUNT ? hypertrace::abi_name(static_cast<HypercallAbi>(abi)) : "?";
}

std::string_view hypercall_name_of(std::uint8_t abi, std::uint64_t nr)
{
    return abi < HT_ABI_COUNT ? hypercall_name(static_cast<HypercallAbi>(abi), nr) : std::string_view();
}

TimeBase TimeBase::now(bool wall_clock)
{
    auto ns = [](const timespec& ts) { return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; };
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

std::unique_ptr<RecordWriter> make_record_writer(Format f, std::ostream& out, const TimeBase& tb, VmColumns* vms)
{
    switch (f) {
    case Format::Json: return std::make_unique<JsonWriter>(out, vms);
    case Format::Csv: return std::make_unique<CsvWriter>(out, vms);
    case Format::Chrome: return make_chrome_writer(out, vms);
    case Format::Text:
    default: return std::make_unique<TextWriter>(out, tb, vms);
    }
}

}  // namespace hypertrace
