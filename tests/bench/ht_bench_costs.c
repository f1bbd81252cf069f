// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ht-bench-costs OBJ -- COMMAND...: load every program of OBJ
 * (primitives.bpf.o), attach them all, turn on BPF run-time statistics, run
 * COMMAND (the workload), then print one line per program:
 *   <name> <run_time_ns / run_cnt> <run_cnt>
 * Exit 1 on any failure, with libbpf's reason; COMMAND's failure too.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	int stats_fd, status;
	pid_t child;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: ht-bench-costs OBJ -- COMMAND...\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ht-bench-costs: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "ht-bench-costs: attach %s failed\n",
				bpf_program__name(p));
			return 1;
		}
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		perror("ht-bench-costs: BPF_ENABLE_STATS");
		return 1;
	}
	child = fork();
	if (child == 0) {
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) < 0 ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "ht-bench-costs: %s failed\n", argv[3]);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			return 1;
		printf("%s %.1f %llu\n", bpf_program__name(p),
		       info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0,
		       (unsigned long long)info.run_cnt);
	}
	return 0;
}
