/* Ordered, retried Events.Forward to containerd. */
#ifndef COFFER_SHIM_EVENTS_H
#define COFFER_SHIM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/loop.h"
#include "coffer/ttrpc.h"

typedef struct shim shim;

typedef struct event_item {
  char *topic;
  char *type_url;
  uint8_t *data;
  size_t len;
  int64_t sec;
  int32_t nsec;
  int attempts;
  struct event_item *next;
} event_item;

typedef struct events {
  char *address;      /* TTRPC_ADDRESS */
  ttrpc_client *client;
  event_item *head, **tail;
  size_t count;
  bool in_flight;
  cf_timer *retry;
} events;

void shim_events_init(shim *s);
void shim_events_publish(shim *s, const char *topic, const char *type_url,
                    const ProtobufCMessage *msg);
void shim_events_free(shim *s);
/* Try to deliver what is queued before exiting (bounded). */
void shim_events_flush(shim *s, int timeout_ms);

#endif
