/* queue.h: the inside of mesh_queue, for the clients that post completions to it. */
#ifndef CLEAVE_MESH_QUEUE_H
#define CLEAVE_MESH_QUEUE_H

#include "mesh.h"

/* meshi_queue_item: a completion waiting to run; embedded in the completed call. */
typedef struct meshi_queue_item {
	struct meshi_queue_item *next;
	void (*run)(struct meshi_queue_item *item); /* called on the draining thread */
} meshi_queue_item;

/* meshi_queue_post hands item to the queue's thread; any thread may call it. The item stays the
 * poster's memory and must stay valid until its run function is called. */
void meshi_queue_post(mesh_queue *queue, meshi_queue_item *item);

/* meshi_queue_remove takes item out of the queue before it runs, so its memory may go (a
 * cancelled call's). Called on the thread that drains the queue, also from inside an item's run
 * (the items of the batch being drained are found too). Returns 0, or -1 if item is not
 * waiting (it ran, or is running). */
int meshi_queue_remove(mesh_queue *queue, meshi_queue_item *item);

#endif
