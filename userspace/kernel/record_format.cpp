// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "kernel/record_format.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

namespace hypertrace {
namespace {

// The number after "key:" in `line`, or false.
bool number_after(const std::string& line, const char* key, std::uint32_t* out)
{
    const std::size_t at = line.find(key);
    if (at == std::string::npos)
        return false;
    const char* start = line.c_str() + at + std::char_traits<char>::length(key);
    char* end = nullptr;
    const unsigned long v = std::strtoul(start, &end, 10);
    if (end == start || v > UINT32_MAX)
        return false;
    *out = static_cast<std::uint32_t>(v);
    return true;
}

// "unsigned int exit_reason" -> "exit_reason"; "char comm[16]" -> "comm";
// "__data_loc char[] name" -> "name".
std::string field_name(std::string decl)
{
    for (std::size_t open; (open = decl.find('[')) != std::string::npos;) {
        const std::size_t close = decl.find(']', open);
        decl.erase(open, close == std::string::npos ? std::string::npos : close - open + 1);
    }
    while (!decl.empty() && std::isspace(static_cast<unsigned char>(decl.back())))
        decl.pop_back();
    std::size_t start = decl.size();
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(decl[start - 1])) || decl[start - 1] == '_'))
        --start;
    return decl.substr(start);
}

}  // namespace

RecordFormat parse_record_format(const std::string& format_file)
{
    RecordFormat fields;
    std::istringstream in(format_file);
    std::string line;
    while (std::getline(in, line)) {
        // "\tfield:...": not the print fmt, which may quote anything.
        const std::size_t f = line.find_first_not_of(" \t");
        if (f == std::string::npos || line.compare(f, 6, "field:") != 0)
            continue;
        const std::size_t semi = line.find(';', f);
        if (semi == std::string::npos)
            continue;
        const std::string name = field_name(line.substr(f + 6, semi - f - 6));
        RecordField field;
        if (name.empty() || !number_after(line, "offset:", &field.offset) || !number_after(line, "size:", &field.size))
            continue;
        fields[name] = field;
    }
    return fields;
}

}  // namespace hypertrace
