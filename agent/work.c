/* Slow work on worker threads, reported back to the loop through an
 * eventfd. One detached thread per job: jobs are rare (freeze, fsync). */
#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

/* Most jobs running at once; more fail with -EAGAIN. */
#define WORK_JOBS_MAX 16
/* Stack of a worker thread: the work is a few syscalls. */
#define WORK_STACK_SIZE (256u * 1024u)

struct work_item {
	struct work_item *next;
	struct agent *agent;
	agent_work_fn work;
	agent_work_done_fn done;
	void *data;
	int result;
};

static void *work_thread(void *arg)
{
	struct work_item *item = arg;
	struct agent *agent = item->agent;
	uint64_t one = 1;
	ssize_t n;

	item->result = item->work(item->data);
	pthread_mutex_lock(&agent->work_lock);
	item->next = agent->work_done;
	agent->work_done = item;
	pthread_mutex_unlock(&agent->work_lock);
	n = write(agent->work_event_fd, &one, sizeof(one));
	(void)n;
	return NULL;
}

static void work_collect(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct agent *agent = data;
	struct work_item *items;
	uint64_t count;
	ssize_t n = read(fd, &count, sizeof(count));

	(void)n;
	pthread_mutex_lock(&agent->work_lock);
	items = agent->work_done;
	agent->work_done = NULL;
	pthread_mutex_unlock(&agent->work_lock);
	while (items) {
		struct work_item *item = items;

		items = item->next;
		agent->work_pending--;
		item->done(agent, item->result, item->data);
		free(item);
	}
}

int agent_run_work(struct agent *agent, agent_work_fn work, agent_work_done_fn done, void *data)
{
	struct work_item *item;
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	if (agent->work_pending >= WORK_JOBS_MAX)
		return -EAGAIN;
	item = calloc(1, sizeof(*item));
	if (!item)
		return -ENOMEM;
	item->agent = agent;
	item->work = work;
	item->done = done;
	item->data = data;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, WORK_STACK_SIZE);
	r = pthread_create(&thread, &attr, work_thread, item);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		free(item);
		return -r;
	}
	agent->work_pending++;
	return 0;
}

int work_init(struct agent *agent)
{
	int r;

	pthread_mutex_init(&agent->work_lock, NULL);
	agent->work_event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (agent->work_event_fd < 0)
		return -errno;
	r = loop_add(agent->loop, agent->work_event_fd, EPOLLIN, work_collect, agent);
	if (r < 0) {
		close(agent->work_event_fd);
		agent->work_event_fd = -1;
	}
	return r;
}

void work_cleanup(struct agent *agent)
{
	/* NOTE: jobs still running at exit are abandoned with their data; the
	 * process ends right after. */
	if (agent->work_event_fd >= 0) {
		loop_remove(agent->loop, agent->work_event_fd);
		close(agent->work_event_fd);
		agent->work_event_fd = -1;
	}
}
