// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A classic tracepoint's record layout, as the kernel describes it in the
// event's tracefs format file (events/<system>/<event>/format):
//
//   field:unsigned int exit_reason;	offset:8;	size:4;	signed:0;
//
// Where kvm's records have no BTF (kvm a module, no module BTF), this is the
// only description of them the kernel offers.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace hypertrace {

struct RecordField {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

// Fields by name.  Lines that are not "field:" lines are ignored; an array
// field ("char comm[16]") is named without its brackets.
using RecordFormat = std::map<std::string, RecordField>;

RecordFormat parse_record_format(const std::string& format_file);

}  // namespace hypertrace
