/* The control channel between ember-agent and ember-init.
 *
 * ember-init listens on CONTROL_SOCKET_PATH, a SOCK_SEQPACKET Unix socket of
 * mode 0600; it accepts peers with uid 0 only (SO_PEERCRED). Each packet is one
 * JSON object of at most CONTROL_MESSAGE_MAX bytes, and each request gets one
 * reply packet, {"ok": true, ...} or {"ok": false, "error": "message"}.
 *
 * Requests (field "op"):
 *   {"op": "start", "args": [..], "env": [..], "secrets": [..], "cwd": "..", "user": ".."}
 *       Start the entrypoint in start mode "host". Strings must be UTF-8; env and
 *       secrets are "KEY=VALUE"; secrets are added to the environment and never
 *       logged. Fails when the entrypoint was already started.
 *   {"op": "shutdown", "action": "poweroff"|"reboot"|"halt", "timeout_s": N}
 *       Start a graceful shutdown; timeout_s 0 keeps the configured stop timeout.
 *   {"op": "wait"}
 *       Reply {"ok": true, "code": C, "signal": S, "status": N} once the
 *       entrypoint has exited (at once when it already has). The agent then sends
 *       {"op": "ack"} after handing the status to its client; at shutdown ember-init
 *       waits at most CONTROL_WAIT_ACK_MS for the acks of pending waiters.
 *   {"op": "status"}
 *       Reply {"ok": true, "state": "...", "pid": P} where state is one of
 *       "waiting-for-start", "running", "exited", "stopping".
 *
 * Files ember-init keeps beside the socket, in /run/ember (tmpfs):
 *   entrypoint.log  the output ring (lib/logring.h)
 *   status          one JSON object: {"state": .., "pid": .., "code": .., "signal": .., "status": ..}
 *   boot-timings    lines "STEP MONOTONIC_NS", in boot order
 *   frozen          mount points frozen by the agent, one per line, in freeze order;
 *                   ember-init thaws them (in reverse) before shutdown or panic */
#ifndef EMBER_CONTROL_H
#define EMBER_CONTROL_H

#define EMBER_RUN_DIR "/run/ember"
#define CONTROL_SOCKET_PATH EMBER_RUN_DIR "/control.sock"
#define CONTROL_STATUS_PATH EMBER_RUN_DIR "/status"
#define CONTROL_TIMINGS_PATH EMBER_RUN_DIR "/boot-timings"
#define CONTROL_FROZEN_PATH EMBER_RUN_DIR "/frozen"
#define CONTROL_MESSAGE_MAX (64u * 1024u)
#define CONTROL_WAIT_ACK_MS 2000

/* The cgroup (below the cgroup2 mount) that contains the entrypoint and one child
 * cgroup per exec session, "workload/<session>". */
#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_WORKLOAD CGROUP_ROOT "/workload"
#define CGROUP_EMBER CGROUP_ROOT "/ember"

#endif
