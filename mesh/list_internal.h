/* list_internal.h: intrusive lists for the event loops: no allocation, every operation inline. */
#ifndef CLEAVE_MESH_LIST_INTERNAL_H
#define CLEAVE_MESH_LIST_INTERNAL_H

#include <stddef.h>

/* MESHI_CONTAINER returns the type holding, as its member member, the link at ptr (not NULL). */
#define MESHI_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* meshi_link: an element's place in one meshi_list, embedded in the element; both NULL while it
 * is on none. */
typedef struct meshi_link {
	struct meshi_link *prev, *next;
} meshi_link;

/* meshi_list: a doubly-linked list, first to last; all zero is empty. It points to its elements
 * and owns none of them. */
typedef struct meshi_list {
	meshi_link *head, *tail;
} meshi_list;

/* meshi_list_insert_after puts link, on no list, right after after on list; first if after is
 * NULL. */
static inline void meshi_list_insert_after(meshi_list *list, meshi_link *after, meshi_link *link)
{
	link->prev = after;
	link->next = after != NULL ? after->next : list->head;
	if (link->next != NULL)
		link->next->prev = link;
	else
		list->tail = link;
	if (after != NULL)
		after->next = link;
	else
		list->head = link;
}

/* meshi_list_append puts link, on no list, last on list (meshi_list_insert_after after the tail,
 * with the branch that cannot be taken left out: a connection is moved last on every call). */
static inline void meshi_list_append(meshi_list *list, meshi_link *link)
{
	link->prev = list->tail;
	link->next = NULL;
	if (list->tail != NULL)
		list->tail->next = link;
	else
		list->head = link;
	list->tail = link;
}

/* meshi_list_prepend puts link, on no list, first on list. */
static inline void meshi_list_prepend(meshi_list *list, meshi_link *link)
{
	meshi_list_insert_after(list, NULL, link);
}

/* meshi_list_unlink takes link off list, which it is on. */
static inline void meshi_list_unlink(meshi_list *list, meshi_link *link)
{
	if (link->prev != NULL)
		link->prev->next = link->next;
	else
		list->head = link->next;
	if (link->next != NULL)
		link->next->prev = link->prev;
	else
		list->tail = link->prev;
	link->prev = link->next = NULL;
}

/* meshi_slink: an element's place in one meshi_stack, embedded in the element. */
typedef struct meshi_slink {
	struct meshi_slink *next;
} meshi_slink;

/* meshi_stack: a singly-linked stack, the last pushed on top; all zero is empty. It points to its
 * elements and owns none of them. */
typedef struct meshi_stack {
	meshi_slink *top;
} meshi_stack;

/* meshi_stack_push puts link, on no stack, on top of stack. */
static inline void meshi_stack_push(meshi_stack *stack, meshi_slink *link)
{
	link->next = stack->top;
	stack->top = link;
}

/* meshi_stack_pop takes the top off stack and returns it, or NULL if stack is empty. */
static inline meshi_slink *meshi_stack_pop(meshi_stack *stack)
{
	meshi_slink *top = stack->top;
	if (top != NULL)
		stack->top = top->next;
	return top;
}

/* meshi_stack_remove takes link off stack, if it is on it. */
static inline void meshi_stack_remove(meshi_stack *stack, meshi_slink *link)
{
	for (meshi_slink **p = &stack->top; *p != NULL; p = &(*p)->next) {
		if (*p == link) {
			*p = link->next;
			return;
		}
	}
}

#endif
