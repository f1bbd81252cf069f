// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "names/hypercall_lookup.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <numeric>

namespace hypertrace {

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool equal_nocase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// Lowercase, underscores dropped: how close two spellings are, not how
// they are written ("HVCALL_POST_MESSAGE" and "HvCallPostMessage" match).
std::string folded(std::string_view s)
{
    std::string out;
    for (char c : s)
        if (c != '_')
            out += lower(c);
    return out;
}

// Levenshtein distance, one row at a time.
std::size_t edit_distance(const std::string& a, const std::string& b)
{
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); i++) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); j++) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

}  // namespace

HypercallNameIndex::HypercallNameIndex(HypercallAbi abi)
{
    for (const HypercallName& e : hypercall_table(abi)) {
        if (e.nr >= kDenseLimit) {
            far_.push_back(&e);
            continue;
        }
        if (e.nr >= dense_.size())
            dense_.resize(e.nr + 1);
        dense_[e.nr] = e.name;
    }
}

std::string_view HypercallNameIndex::far(std::uint64_t nr) const
{
    for (const HypercallName* e : far_)
        if (e->nr == nr)
            return e->name;
    return {};
}

const HypercallNameIndex& hypercall_name_index(HypercallAbi abi)
{
    static const std::array<HypercallNameIndex, 3> indexes = {HypercallNameIndex(HypercallAbi::Kvm),
                                                              HypercallNameIndex(HypercallAbi::Hyperv),
                                                              HypercallNameIndex(HypercallAbi::Xen)};
    return indexes[static_cast<std::size_t>(abi)];
}

const HypercallName* find_hypercall(HypercallAbi abi, std::string_view name)
{
    for (const HypercallName& e : hypercall_table(abi))
        if (equal_nocase(name, e.name) || (e.linux_name && equal_nocase(name, e.linux_name)))
            return &e;
    return nullptr;
}

std::vector<std::string> closest_hypercall_names(std::string_view text, std::optional<HypercallAbi> abi,
                                                 std::size_t max)
{
    struct Candidate {
        std::size_t distance;
        std::size_t order;  // table order breaks ties: KVM first
        const char* name;
    };
    const std::string want = folded(text);
    std::vector<Candidate> all;
    for (HypercallAbi a : kHypercallAbis) {
        if (abi && *abi != a)
            continue;
        for (const HypercallName& e : hypercall_table(a)) {
            // A Hyper-V entry is as close as the nearer of its two spellings,
            // and is offered by its TLFS name.
            std::size_t d = edit_distance(want, folded(e.name));
            if (e.linux_name)
                d = std::min(d, edit_distance(want, folded(e.linux_name)));
            all.push_back({d, all.size(), e.name});
        }
    }
    const std::size_t n = std::min(max, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                      [](const Candidate& x, const Candidate& y) {
                          return x.distance < y.distance || (x.distance == y.distance && x.order < y.order);
                      });
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; i++)
        out.emplace_back(all[i].name);
    return out;
}

}  // namespace hypertrace
