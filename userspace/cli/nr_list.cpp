// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "cli/nr_list.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "names/hypercall_lookup.h"
#include "util/strings.h"

namespace hypertrace {

std::uint64_t parse_u64(std::string_view text)
{
    if (text.empty())
        throw std::invalid_argument("empty number");
    if (text.front() == '-')
        throw std::invalid_argument("'" + std::string(text) + "' is negative");
    int base = 10;
    std::string_view digits = text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        base = 16;
        digits.remove_prefix(2);
    }
    std::uint64_t value = 0;
    // from_chars rejects '+', blanks and a "0x" prefix itself, which is what
    // we want: only plain digits of the chosen base remain acceptable.
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument("'" + std::string(text) + "' does not fit in 64 bits");
    if (ec != std::errc() || end != digits.data() + digits.size())
        throw std::invalid_argument("'" + std::string(text) + "' is not a number");
    return value;
}

std::vector<NrRange> merge_nr_ranges(std::vector<NrRange> r)
{
    std::sort(r.begin(), r.end(),
              [](const NrRange& a, const NrRange& b) { return a.lo < b.lo || (a.lo == b.lo && a.hi < b.hi); });
    std::vector<NrRange> out;
    for (const NrRange& x : r) {
        // Adjacent ranges merge too; careful not to overflow at u64 max.
        if (!out.empty() && (x.lo <= out.back().hi || (out.back().hi != std::numeric_limits<std::uint64_t>::max() &&
                                                       x.lo == out.back().hi + 1))) {
            out.back().hi = std::max(out.back().hi, x.hi);
        } else {
            out.push_back(x);
        }
    }
    return out;
}

namespace {

// Hyper-V's call code is bits 15:0 of the hypercall input value
// (kvm_hv_hypercall's `code` is a u16): a larger number can never match.
constexpr std::uint64_t kMaxHypervCode = 0xffff;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// One end of an item: a number, or a name that also says its ABI.
struct Endpoint {
    std::uint64_t value;
    std::optional<HypercallAbi> named_abi;  // set when given by name
};

[[noreturn]] void unknown_name(std::string_view text, std::optional<HypercallAbi> abi)
{
    std::string msg = quoted(text) + " is not a number and no " + (abi ? std::string(abi_title(*abi)) + " " : "") +
                      "hypercall has that name (closest: ";
    const std::vector<std::string> near = closest_hypercall_names(text, abi);
    for (std::size_t i = 0; i < near.size(); i++)
        msg += (i ? ", " : "") + near[i];
    throw std::invalid_argument(msg + "; 'hypertrace --list-hypercalls' lists them all)");
}

// A number if it starts with a digit, else a name: in `prefix`'s table, or
// without a prefix in KVM's, then in the others (names differ across ABIs).
Endpoint parse_endpoint(std::string_view text, std::optional<HypercallAbi> prefix)
{
    if (text.empty() || (text.front() >= '0' && text.front() <= '9'))
        return {parse_u64(text), std::nullopt};
    if (text.front() == '-')
        throw std::invalid_argument(quoted(text) + " is negative");
    for (HypercallAbi abi : kHypercallAbis) {
        if (prefix && *prefix != abi)
            continue;
        if (const HypercallName* e = find_hypercall(abi, text))
            return {e->nr, abi};
    }
    unknown_name(text, prefix);
}

// The ABI an item selects from: its prefix, else the one its names belong
// to, else KVM.
HypercallAbi item_abi(std::string_view item, std::optional<HypercallAbi> prefix, const Endpoint& lo, const Endpoint& hi)
{
    if (prefix)
        return *prefix;
    if (lo.named_abi && hi.named_abi && *lo.named_abi != *hi.named_abi)
        throw std::invalid_argument("range " + quoted(item) + " runs from a " + abi_title(*lo.named_abi) +
                                    " hypercall to a " + abi_title(*hi.named_abi) + " one");
    return lo.named_abi ? *lo.named_abi : hi.named_abi ? *hi.named_abi : HypercallAbi::Kvm;
}

void parse_item(std::string_view item, NrSelection& out)
{
    if (item.empty())
        throw std::invalid_argument("empty item");
    // "hv:..." -- names and numbers never contain ':'.
    std::optional<HypercallAbi> prefix;
    std::string_view body = item;
    if (std::size_t colon = item.find(':'); colon != std::string_view::npos) {
        prefix = parse_abi(trim(item.substr(0, colon)));
        if (!prefix)
            throw std::invalid_argument(quoted(item) + " has an unknown prefix " + quoted(item.substr(0, colon + 1)) +
                                        ": use kvm:, hv: or xen:");
        body = trim(item.substr(colon + 1));
        if (body.empty())
            throw std::invalid_argument(quoted(item) + " has nothing after its prefix");
    }
    if (body.front() == '-')
        throw std::invalid_argument(quoted(item) + " is negative");
    // A range's dash is the first '-' after the first character (a leading
    // '-' was rejected above as a sign; names have no '-').
    std::size_t dash = body.find('-');
    Endpoint lo, hi;
    if (dash == std::string_view::npos) {
        lo = hi = parse_endpoint(body, prefix);
    } else {
        std::string_view b = trim(body.substr(dash + 1));
        if (b.empty())
            throw std::invalid_argument("range " + quoted(item) + " has no upper bound");
        lo = parse_endpoint(trim(body.substr(0, dash)), prefix);
        hi = parse_endpoint(b, prefix);
        if (lo.value > hi.value)
            throw std::invalid_argument("range " + quoted(item) + " runs backwards");
    }
    const HypercallAbi abi = item_abi(item, prefix, lo, hi);
    if (abi == HypercallAbi::Hyperv && hi.value > kMaxHypervCode)
        throw std::invalid_argument(quoted(item) + " is above 0xffff: Hyper-V call codes are 16 bits");
    out.of(abi).push_back({lo.value, hi.value});
}

}  // namespace

std::vector<NrRange>& NrSelection::of(HypercallAbi abi)
{
    return abi == HypercallAbi::Hyperv ? hyperv : abi == HypercallAbi::Xen ? xen : kvm;
}

const std::vector<NrRange>& NrSelection::of(HypercallAbi abi) const { return const_cast<NrSelection*>(this)->of(abi); }

NrSelection parse_nr_list(std::string_view text)
{
    NrSelection sel;
    std::size_t pos = 0;
    for (;;) {
        std::size_t comma = text.find(',', pos);
        parse_item(trim(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)), sel);
        if (comma == std::string_view::npos)
            break;
        pos = comma + 1;
    }
    for (HypercallAbi abi : kHypercallAbis)
        sel.of(abi) = merge_nr_ranges(std::move(sel.of(abi)));
    return sel;
}

}  // namespace hypertrace
