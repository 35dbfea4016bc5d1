/* Rootfs PULL (image_pull.c): the container's image pulled, verified,
 * decrypted and unpacked in the guest by coffer-image-pull, into a tmpfs of
 * the container's (guest memory). The policy's image digests bound what may
 * run; the decryption keys named in init-data come from the broker through
 * the attester; the host shares nothing of the image. */
#ifndef COFFER_AGENT_IMAGE_PULL_H
#define COFFER_AGENT_IMAGE_PULL_H

#include <pthread.h>

#include "agent.h"
#include "agent.pb-c.h"

#define AGENT_IMAGE_PULL_BIN "/usr/bin/coffer-image-pull"

/* A pull's child, for a thread that may cancel it (prefetch.c): pid is set
 * under lock while it runs; cancelled kills it at once or when it starts. */
typedef struct agent_pull_child {
  pthread_mutex_t lock;
  pid_t pid;
  bool cancelled;
} agent_pull_child;

/* Pulls ref into the directory dir (a tmpfs) with coffer-image-pull: the
 * pod's policy digests and decryption keys, init-data's registry CA (written
 * to the file ca). *out is the tool's JSON result (malloc'd). Any thread:
 * it waits for its own child, so a job must be in flight (job.h). */
int agent_image_pull_into(agent *a, const char *ref, const char *dir, const char *ca,
                          agent_pull_child *child, char **out, cf_error *err);

/* The rootfs path (malloc'd, under c->bundle), or NULL with err naming the
 * image and why (the registry's, the digest's, the broker's reason). Runs
 * on the job worker: it blocks for the whole pull. */
char *agent_image_pull_rootfs(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                              const char *name, cf_error *err);

#endif
