// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/libbpf_log.h"

#include <vector>

namespace hypertrace {
namespace {

// libbpf's markers around a verifier log (bpf_object_load_prog(), libbpf.c).
constexpr const char kBegin[] = "-- BEGIN PROG LOAD LOG --\n";
constexpr const char kEnd[] = "-- END PROG LOAD LOG --";

std::vector<std::string> split_lines(const std::string& text)
{
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos)
            nl = text.size();
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

// The verifier's closing statistics (kernel/bpf/verifier.c,
// print_verification_stats()) say nothing about why.
bool is_statistics(const std::string& line)
{
    return line.rfind("processed ", 0) == 0 || line.rfind("verification time ", 0) == 0 ||
           line.rfind("stack depth ", 0) == 0 || line.find_first_not_of(" \t") == std::string::npos;
}

// One verifier log found in the collected messages: [body, body_end) is the
// log itself; name the program it is about.
struct Block {
    std::size_t body = 0, body_end = 0, end_marker = 0;
    std::string program;
};

bool next_block(const std::string& log, std::size_t from, Block* b)
{
    const std::size_t begin = log.find(kBegin, from);
    if (begin == std::string::npos)
        return false;
    b->body = begin + sizeof kBegin - 1;
    b->end_marker = log.find(kEnd, b->body);
    if (b->end_marker == std::string::npos)
        b->end_marker = log.size();  // cut short: the whole rest is the log
    b->body_end = b->end_marker;
    // "libbpf: prog 'NAME': -- BEGIN ..." on the marker's own line.
    const std::size_t line_start = log.rfind('\n', begin) == std::string::npos ? 0 : log.rfind('\n', begin) + 1;
    const std::size_t q1 = log.find("prog '", line_start);
    b->program.clear();
    if (q1 != std::string::npos && q1 < begin) {
        const std::size_t q2 = log.find('\'', q1 + 6);
        if (q2 != std::string::npos && q2 < begin)
            b->program = log.substr(q1 + 6, q2 - q1 - 6);
    }
    return true;
}

}  // namespace

std::string libbpf_log_for_user(const std::string& log, std::size_t tail)
{
    std::string out;
    std::size_t pos = 0;
    Block b;
    while (next_block(log, pos, &b)) {
        out.append(log, pos, b.body - pos);
        const std::vector<std::string> lines = split_lines(log.substr(b.body, b.body_end - b.body));
        const std::size_t first = lines.size() > tail ? lines.size() - tail : 0;
        if (first)
            out += "[the first " + std::to_string(first) + " of its " + std::to_string(lines.size()) +
                   " lines left out; the verifier says why at the end]\n";
        for (std::size_t i = first; i < lines.size(); ++i)
            out += lines[i] + "\n";
        pos = b.end_marker;
    }
    out.append(log, pos, std::string::npos);
    return out;
}

std::string verifier_reason(const std::string& log)
{
    std::string reason;
    std::size_t pos = 0;
    Block b;
    while (next_block(log, pos, &b)) {
        const std::vector<std::string> lines = split_lines(log.substr(b.body, b.body_end - b.body));
        for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
            if (!is_statistics(*it)) {
                reason = (b.program.empty() ? "" : b.program + ": ") + *it;
                break;
            }
        }
        pos = b.end_marker;
    }
    return reason;
}

}  // namespace hypertrace
