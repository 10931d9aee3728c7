/* queue.c: completions handed from nng's threads to one event-loop thread, one wake-up per batch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "queue.h"

struct mesh_queue {
	pthread_mutex_t lock;
	meshi_queue_item *head; /* oldest first */
	meshi_queue_item **tail;
	int fd; /* eventfd, readable while items wait */
	/* the batch mesh_queue_drain is running, from the next item to run: the draining thread's
	 * alone */
	meshi_queue_item *running;
};

int mesh_queue_new(mesh_queue **out)
{
	mesh_queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return ENOMEM;
	q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->fd < 0) {
		int err = errno;
		free(q);
		return err;
	}
	pthread_mutex_init(&q->lock, NULL);
	q->tail = &q->head;
	*out = q;
	return 0;
}

int mesh_queue_fd(const mesh_queue *q)
{
	return q->fd;
}

void meshi_queue_post(mesh_queue *q, meshi_queue_item *item)
{
	int was_empty;
	item->next = NULL;
	pthread_mutex_lock(&q->lock);
	was_empty = q->head == NULL;
	*q->tail = item;
	q->tail = &item->next;
	pthread_mutex_unlock(&q->lock);
	if (was_empty) {
		uint64_t one = 1;
		/* A full counter (EAGAIN) still leaves the fd readable, which is all we need. */
		while (write(q->fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

int mesh_queue_drain(mesh_queue *q)
{
	uint64_t count;
	meshi_queue_item *item;
	int n = 0;
	/* Reset the counter before taking the list: an item posted after the swap finds the list
	 * empty and writes again, so no wake-up is lost. */
	while (read(q->fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&q->lock);
	if (q->running == NULL) {
		q->running = q->head;
	} else { /* a drain from inside a run: it runs the rest of the outer batch too */
		meshi_queue_item **end = &q->running;
		while (*end != NULL)
			end = &(*end)->next;
		*end = q->head;
	}
	q->head = NULL;
	q->tail = &q->head;
	pthread_mutex_unlock(&q->lock);
	while ((item = q->running) != NULL) {
		q->running = item->next; /* before it runs: a run may remove items after it */
		item->run(item);
		n++;
	}
	return n;
}

int meshi_queue_remove(mesh_queue *q, meshi_queue_item *item)
{
	meshi_queue_item **p;
	for (p = &q->running; *p != NULL; p = &(*p)->next) {
		if (*p == item) {
			*p = item->next;
			return 0;
		}
	}
	pthread_mutex_lock(&q->lock);
	for (p = &q->head; *p != NULL; p = &(*p)->next) {
		if (*p != item)
			continue;
		*p = item->next;
		if (q->tail == &item->next)
			q->tail = p;
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	pthread_mutex_unlock(&q->lock);
	return -1;
}

void mesh_queue_free(mesh_queue *q)
{
	if (q == NULL)
		return;
	close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
