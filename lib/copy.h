/* File and directory copy between the host and the guest, shared by both
 * sides: the same tree walker sends a copy (the host for copy-in, the agent for
 * copy-out) and the same receiver writes one (the agent for copy-in, the host
 * for copy-out), over a blocking descriptor that carries protocol frames.
 *
 * The receiver trusts nothing it reads. Every entry name is checked and
 * resolved beneath the destination without following any symlink, and every
 * size is checked against a limit. Each file is written to an unnamed or
 * temporary file, verified against the sender's SHA-256, fsync'd and renamed
 * into place, so a failed copy leaves no partial file. */
#ifndef EMBER_COPY_H
#define EMBER_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.pb-c.h"
#include "frame.h"

/* Maximum length of an entry name or symlink target, in bytes (Linux PATH_MAX). */
#define COPY_NAME_MAX 4096
/* Maximum directory depth a sender walks or a receiver accepts. */
#define COPY_DEPTH_MAX 256
/* Maximum entries in one copy. It bounds the receiver's directory and hardlink
 * tables and the sender's hardlink table. */
#define COPY_ENTRIES_MAX (1024u * 1024u)
/* Default size limit of one received file; a receiver may set its own. */
#define COPY_FILE_SIZE_DEFAULT_MAX (1ull << 40)
/* Maximum warnings kept for the result; later ones are only counted. */
#define COPY_WARNINGS_MAX 64
/* Interval between CopyProgress frames while a copy runs, in milliseconds. */
#define COPY_PROGRESS_INTERVAL_MS 1000
/* A blocking reader gives up after this long without any frame, in ms. */
#define COPY_IDLE_TIMEOUT_MS 60000
/* A blocking writer gives up after the peer read nothing for this long, in ms:
 * longer than the idle timeout, because a receiver may be in a long fsync. */
#define COPY_SEND_TIMEOUT_MS 300000

/* ------------------------------------------------------------ paths */

/* Checks an entry name: relative, '/'-separated, no empty, "." or ".."
 * component, no NUL, at most COPY_NAME_MAX bytes. "" is the root entry.
 * Returns 0 or -EINVAL. */
int copy_name_check(const char *name, size_t len);

/* Checks that a symlink named name with target target stays beneath the
 * copy's root when resolved lexically: the target is relative and its ".."
 * components never climb above the root. Returns 0 or -EXDEV. */
int copy_link_check(const char *name, const char *target);

/* Opens path (relative, checked) beneath dirfd without following any symlink
 * and without leaving dirfd: openat2 with RESOLVE_BENEATH and
 * RESOLVE_NO_SYMLINKS, or a walk with O_NOFOLLOW on kernels without openat2.
 * "" opens dirfd itself. Returns a descriptor or -errno (-ELOOP for a
 * symlink on the way). */
int copy_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/* The fallback of copy_open_beneath, for kernels before Linux 5.6: opens one
 * component at a time with O_NOFOLLOW and rejects ".." with -EXDEV. A symlink
 * on the way fails with -ELOOP, or -ENOTDIR where a directory was expected. */
int copy_open_by_walk(int dirfd, const char *path, int flags, mode_t mode);

/* ------------------------------------------------------------ frames */

/* A bump allocator for unpacking one frame at a time. Allocations that fit
 * come from one reused block and are released together by copy_arena_reset.
 * Larger ones fall back to malloc and free. */
struct copy_arena {
	uint8_t *base;
	size_t used, size;
};

/* Bytes of an arena: a whole frame's content plus the message structures. */
#define COPY_ARENA_SIZE (2 * EMBER_FRAME_MAX)

/* Returns a protobuf-c allocator over arena, allocating its block on first
 * use (without a block every allocation uses malloc). */
ProtobufCAllocator copy_arena_allocator(struct copy_arena *arena);
void copy_arena_reset(struct copy_arena *arena);
void copy_arena_release(struct copy_arena *arena);

enum copy_side {
	COPY_SIDE_CLIENT,    /* sends ClientFrame, receives AgentFrame */
	COPY_SIDE_AGENT,     /* sends AgentFrame, receives ClientFrame */
};

/* One end of a copy: a blocking descriptor and which frame types it uses. */
struct copy_stream {
	int fd;
	enum copy_side side;
	int idle_timeout_ms;  /* receive timeout; 0: wait forever */
	uint64_t bytes;       /* content bytes sent or received, for progress */
	uint64_t entries;
	uint64_t total_bytes; /* 0 when unknown */
	uint64_t last_progress_ms;
	/* Called on every CopyProgress received, and by a sender after each
	 * chunk; may be NULL. */
	void (*on_progress)(const struct copy_stream *stream, void *data);
	void *progress_data;
	/* Client side: before each send, read the frames the agent has sent
	 * meanwhile, so its progress frames never fill the connection and an
	 * Error ends the copy at once. */
	bool drain_incoming;
	/* A send failed, possibly after part of a frame: the stream can carry
	 * no further frame, not even an Error. */
	bool send_failed;
	bool peer_failed;     /* an Error frame arrived; its fields follow */
	Ember__Code peer_code;
	int peer_errno;
	char peer_path[COPY_NAME_MAX + 1];
	char peer_message[512];
	/* Buffers reused for every frame, so a large copy does not allocate
	 * (and fault in) a chunk-sized buffer per frame. Freed by
	 * copy_stream_release. */
	uint8_t *recv_body, *send_frame;
	size_t send_size;
	struct copy_arena arena;
	/* A CopyData frame decoded in place: its data points into recv_body. */
	Ember__CopyData data_in_place;
};

/* Send and receive buffer asked of the kernel for a copy's socket. A chunk is
 * EMBER_CHUNK_MAX; with the default Unix socket buffer (about 208 KiB) the
 * sender stops inside every chunk until the receiver catches up. */
#define COPY_SOCKET_BUFFER (4u * 1024u * 1024u)

/* Enlarges fd's socket buffers to COPY_SOCKET_BUFFER: beyond the system limit
 * (net.core.wmem_max) where the process has CAP_NET_ADMIN, up to it otherwise,
 * and for vsock the transport's buffer. Best effort: errors are ignored. */
void copy_socket_buffers(int fd);

/* Sets SO_RCVTIMEO to the stream's idle timeout, so a peer that stops in the
 * middle of a frame cannot block a reader forever. Returns 0 or -errno. */
int copy_stream_set_read_timeout(struct copy_stream *stream);

/* Frees the stream's buffers; the descriptor stays open. */
void copy_stream_release(struct copy_stream *stream);

/* Stores an Error frame's fields in the stream. */
void copy_stream_set_peer_error(struct copy_stream *stream, const Ember__Error *error);

enum copy_frame_kind {
	COPY_FRAME_ENTRY,
	COPY_FRAME_DATA,
	COPY_FRAME_FILE_END,
	COPY_FRAME_END,
	COPY_FRAME_PROGRESS,
	COPY_FRAME_RESULT,
	COPY_FRAME_ERROR,
	COPY_FRAME_OTHER,
};

/* A received frame; exactly one pointer matching kind is set. */
struct copy_frame {
	enum copy_frame_kind kind;
	ProtobufCMessage *outer;  /* the decoded ClientFrame or AgentFrame */
	struct copy_stream *stream;  /* the stream whose arena contains the decoded frame */
	const Ember__CopyEntry *entry;
	const Ember__CopyData *data;
	const Ember__CopyFileEnd *file_end;
	const Ember__CopyProgress *progress;
	const Ember__CopyResult *result;
	const Ember__Error *error;
};

/* Reads and decodes one frame, which stays valid until copy_frame_free; only
 * one frame of a stream may be held at a time. Returns 0; -ETIMEDOUT after idle_timeout_ms;
 * -EBADMSG for a frame that does not decode; or the errors of frame_read. */
int copy_stream_recv(struct copy_stream *stream, struct copy_frame *frame);
void copy_frame_free(struct copy_frame *frame);

/* The send functions return 0 or -errno; -EREMOTEIO when a drained Error
 * frame ended the copy (see peer_failed). */
int copy_stream_send_entry(struct copy_stream *stream, const Ember__CopyEntry *entry);
int copy_stream_send_data(struct copy_stream *stream, uint64_t offset, const void *data,
			  size_t len);
int copy_stream_send_file_end(struct copy_stream *stream, const uint8_t sha256[32],
			      uint64_t size);
int copy_stream_send_end(struct copy_stream *stream);
/* Sends a CopyProgress frame with the stream's counters (agent side only). */
int copy_stream_send_progress(struct copy_stream *stream);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t copy_now_ms(void);

/* ------------------------------------------------------------ results */

/* The outcome of a copy: counts, warnings, and on failure the path and reason. */
struct copy_report {
	uint64_t entries;
	uint64_t bytes;
	char *warnings[COPY_WARNINGS_MAX];
	size_t warning_count;
	uint64_t warnings_dropped;
	int error;              /* -errno of the failure, 0 on success */
	bool peer_failed;       /* the failure came in an Error frame from the peer */
	char error_path[COPY_NAME_MAX + 1];
	char error_message[512];
};

void copy_report_init(struct copy_report *report);
void copy_report_free(struct copy_report *report);
void copy_report_warn(struct copy_report *report, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Records the failure (the first one wins) and returns err. */
int copy_report_fail(struct copy_report *report, int err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Rewrites the failed path of report, which names an entry relative to the
 * copy's root, as root/path, both in error_path and where the message quotes
 * it, so the message names the path the user gave. */
void copy_report_prefix(struct copy_report *report, const char *root);

/* The status code that describes err (-EACCES: permission denied, ...). */
Ember__Code copy_errno_code(int err);

/* ------------------------------------------------------------ sending */

struct copy_send_options {
	bool follow_root_link;  /* the source itself may be a symlink to follow */
};

/* Walks path (a file, symlink or directory; FIFOs, sockets and devices are
 * skipped with a warning) and sends its entries, contents and checksums, then
 * CopyEnd. Returns 0 or -errno with the failure in report. A failure of the
 * stream itself (the peer left) is reported as such, so the caller can read the
 * peer's Error frame. */
int copy_send_tree(struct copy_stream *stream, const char *path,
		   const struct copy_send_options *options, struct copy_report *report);

/* ------------------------------------------------------------ receiving */

struct copy_recv_options {
	bool preserve_owner;    /* apply the entries' uid and gid */
	bool preserve_special;  /* keep setuid, setgid and sticky bits */
	uint64_t file_size_max; /* 0: COPY_FILE_SIZE_DEFAULT_MAX */
	bool send_progress;     /* send CopyProgress frames back (agent side) */
};

/* Receives entries until CopyEnd and writes them beneath parent_fd: the root
 * entry becomes root_name inside parent_fd, or, when root_name is NULL, its
 * contents merge into parent_fd itself (a root that is a directory). Returns 0
 * or -errno with the failed path and the reason in report; -EPROTO when the
 * peer sent an Error frame (its message is in report). */
int copy_recv_tree(struct copy_stream *stream, int parent_fd, const char *root_name,
		   const struct copy_recv_options *options, struct copy_report *report);

#endif
