// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A tracefs format file read into fields (userspace/kernel/record_format.h).
#include <gtest/gtest.h>

#include "kernel/record_format.h"

using namespace hypertrace;

TEST(RecordFormat, Debian510KvmExit)
{
    // /sys/kernel/tracing/events/kvm/kvm_exit/format on 5.10.0-46-amd64 (the print fmt shortened).
    const char* text =
        "name: kvm_exit\n"
        "ID: 1361\n"
        "format:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
        "\n"
        "\tfield:unsigned int exit_reason;\toffset:8;\tsize:4;\tsigned:0;\n"
        "\tfield:unsigned long guest_rip;\toffset:16;\tsize:8;\tsigned:0;\n"
        "\tfield:u32 isa;\toffset:24;\tsize:4;\tsigned:0;\n"
        "\tfield:u64 info1;\toffset:32;\tsize:8;\tsigned:0;\n"
        "\tfield:u64 info2;\toffset:40;\tsize:8;\tsigned:0;\n"
        "\tfield:u32 intr_info;\toffset:48;\tsize:4;\tsigned:0;\n"
        "\tfield:u32 error_code;\toffset:52;\tsize:4;\tsigned:0;\n"
        "\tfield:unsigned int vcpu_id;\toffset:56;\tsize:4;\tsigned:0;\n"
        "\n"
        "print fmt: \"vcpu %u reason %s%s%s rip 0x%lx\", REC->vcpu_id, REC->exit_reason\n";
    const RecordFormat f = parse_record_format(text);
    EXPECT_EQ(f.size(), 12u);
    ASSERT_EQ(f.count("exit_reason"), 1u);
    EXPECT_EQ(f.at("exit_reason").offset, 8u);
    EXPECT_EQ(f.at("exit_reason").size, 4u);
    EXPECT_EQ(f.at("isa").offset, 24u);
    EXPECT_EQ(f.at("isa").size, 4u);
    EXPECT_EQ(f.at("guest_rip").size, 8u);
    EXPECT_EQ(f.at("vcpu_id").offset, 56u);
    EXPECT_EQ(f.at("common_pid").offset, 4u);
}

TEST(RecordFormat, ArraysAndNoise)
{
    const RecordFormat f = parse_record_format(
        "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
        "\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;\n"
        "\tfield:int broken;\toffset:;\tsize:4;\n"
        "print fmt: \"field:int x; offset:1; size:2;\"\n");
    ASSERT_EQ(f.count("comm"), 1u);
    EXPECT_EQ(f.at("comm").size, 16u);
    EXPECT_EQ(f.at("name").offset, 24u);
    EXPECT_EQ(f.count("broken"), 0u);  // no offset: not a field we could read
    EXPECT_EQ(f.count("x"), 0u);       // the print fmt is not a field
    EXPECT_EQ(f.size(), 2u);
    EXPECT_EQ(parse_record_format("").size(), 0u);
}
