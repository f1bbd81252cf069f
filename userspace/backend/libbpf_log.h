// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// What a failed BPF load tells the user: libbpf's messages, with each
// verifier log cut to its end.
//
// When the kernel refuses a program, libbpf hands over the verifier's whole
// log as one message, "prog 'NAME': -- BEGIN PROG LOAD LOG --\n...-- END PROG
// LOAD LOG --".  The verifier walks the program from its first instruction
// and stops at the one it rejects, so the log starts with the program's
// listing and ends with why: the last lines (before the "processed N insns"
// statistics) are what the user needs, the first ones rarely.
#pragma once

#include <cstddef>
#include <string>

namespace hypertrace {

// `log` (libbpf's messages as collected) with every verifier log shortened to
// its last `tail` lines, preceded by a line saying how many were left out.
// libbpf's own lines are kept whole.
std::string libbpf_log_for_user(const std::string& log, std::size_t tail = 24);

// Why the last program was refused, in one line: "NAME: REASON", REASON
// being the last line of its verifier log that is not the verifier's
// statistics.  Empty when `log` holds no verifier log.
std::string verifier_reason(const std::string& log);

}  // namespace hypertrace
