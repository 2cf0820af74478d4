/* The ping and info operations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "agent.h"
#include "control.h"
#include "io.h"

/* Maximum boot timing lines read from /run/ember/boot-timings. */
#define INFO_TIMINGS_MAX 64
#define INFO_TIMINGS_FILE_MAX 8192

int op_ping(struct conn *conn, const Ember__Request *request)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__PingResponse pong = EMBER__PING_RESPONSE__INIT;

	pong.version = EMBER_PROTOCOL_VERSION;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_PONG;
	frame.pong = &pong;
	return conn_finish(conn, &frame);
}

static void read_boot_id(char *buf, size_t len)
{
	ssize_t n = read_file("/proc/sys/kernel/random/boot_id", buf, len);

	if (n < 0)
		n = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
}

/* Parses "STEP MONOTONIC_NS" lines into timings; skips malformed lines. */
static size_t parse_timings(char *text, Ember__BootTiming *timings, Ember__BootTiming **ptrs)
{
	size_t count = 0;

	for (char *line = strtok(text, "\n"); line && count < INFO_TIMINGS_MAX;
	     line = strtok(NULL, "\n")) {
		char *space = strrchr(line, ' ');
		char *end;
		unsigned long long ns;

		if (!space)
			continue;
		*space = '\0';
		ns = strtoull(space + 1, &end, 10);
		if (*end || !line[0])
			continue;
		ember__boot_timing__init(&timings[count]);
		timings[count].step = line;
		timings[count].monotonic_ns = ns;
		ptrs[count] = &timings[count];
		count++;
	}
	return count;
}

int op_info(struct conn *conn, const Ember__Request *request)
{
	struct agent *agent = conn_agent(conn);
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__InfoResponse info = EMBER__INFO_RESPONSE__INIT;
	Ember__BootTiming timings[INFO_TIMINGS_MAX];
	Ember__BootTiming *timing_ptrs[INFO_TIMINGS_MAX];
	const char *operations[32];
	char timings_text[INFO_TIMINGS_FILE_MAX];
	char boot_id[64];
	struct utsname uts;
	struct timespec now;
	size_t op_count = 0;

	read_boot_id(boot_id, sizeof(boot_id));
	uname(&uts);
	clock_gettime(CLOCK_BOOTTIME, &now);
	for (size_t i = 0; i < op_table_len && op_count < 32; i++)
		if (op_available(agent, &op_table[i]))
			operations[op_count++] = op_table[i].name;

	info.agent_version = (char *)(uintptr_t)EMBER_VERSION;
	info.protocol_version = EMBER_PROTOCOL_VERSION;
	info.protocol_min_version = EMBER_PROTOCOL_MIN_VERSION;
	info.boot_id = boot_id;
	info.uptime_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
	info.hostname = uts.nodename;
	info.kernel = uts.release;
	info.arch = uts.machine;
	info.operations = (char **)(uintptr_t)operations;
	info.n_operations = op_count;
	info.under_init = agent->opts.under_init;
	info.sessions = (uint32_t)agent->session_count;
	info.frozen = agent->frozen;
	if (agent->opts.under_init &&
	    read_file(CONTROL_TIMINGS_PATH, timings_text, sizeof(timings_text)) >= 0) {
		info.n_boot_timings = parse_timings(timings_text, timings, timing_ptrs);
		info.boot_timings = timing_ptrs;
	}
	frame.kind_case = EMBER__AGENT_FRAME__KIND_INFO;
	frame.info = &info;
	return conn_finish(conn, &frame);
}
