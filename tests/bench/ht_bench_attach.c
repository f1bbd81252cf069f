// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ht-bench-attach OBJ classic|raw: load the empty programs of one kind from
 * OBJ (empty.bpf.o), attach them, print "attached" on stdout, and hold them
 * until SIGINT/SIGTERM.  Exit 1 on any failure, with libbpf's reason.
 */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	struct bpf_link *links[8];
	struct bpf_object *obj;
	struct bpf_program *p;
	int n = 0, i;

	if (argc != 3 || (strcmp(argv[2], "classic") && strcmp(argv[2], "raw"))) {
		fprintf(stderr, "usage: ht-bench-attach OBJ classic|raw\n");
		return 2;
	}
	const char *prefix = strcmp(argv[2], "raw") ? "tracepoint/" : "raw_tp/";
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("ht-bench-attach: open");
		return 1;
	}
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, !strncmp(bpf_program__section_name(p), prefix, strlen(prefix)));
	if (bpf_object__load(obj)) {
		fprintf(stderr, "ht-bench-attach: load failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p))
			continue;
		links[n] = bpf_program__attach(p);
		if (!links[n]) {
			fprintf(stderr, "ht-bench-attach: attach %s failed\n", bpf_program__name(p));
			goto out;
		}
		n++;
	}
	printf("attached %d %s programs\n", n, argv[2]);
	fflush(stdout);
	while (!stop)
		pause();
out:
	for (i = n - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return stop ? 0 : 1;
}
