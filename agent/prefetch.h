/* Guest pulls started early (prefetch.c): CreateSandbox names the images
 * its containers will pull in the guest (the pod's io.coffer.guest-pull-images),
 * and the agent starts pulling them at once, one after another on a thread
 * of their own, while the host is still busy with the pod (the sandbox's
 * start, the kubelet's PullImage and CreateContainer). A CreateContainer
 * whose PULL rootfs names one of them waits for that pull and takes its
 * tmpfs, or reports its error. Each pull is the one CreateContainer would
 * make (the same policy digests, keys and limits, image_pull.h); what no
 * container takes stays in guest memory until the sandbox goes. */
#ifndef COFFER_AGENT_PREFETCH_H
#define COFFER_AGENT_PREFETCH_H

#include <stdint.h>

#include "agent.h"

#define AGENT_PREFETCH_MAX 4 /* images pulled early; the rest at CreateContainer */

/* CreateSandbox (loop). Failures are logged: the containers then pull. */
void agent_prefetch_start(agent *a, char *const *refs, size_t n);
/* CreateContainer's job (worker): when a pull of ref was started and not
 * taken yet, waits for it: 1 with *dir (the mounted tmpfs holding the image:
 * the caller binds it where it goes and unmounts it), *out (the tool's JSON
 * result) and *ms (how long the pull took), all malloc'd; -1 with err its
 * failure; 0 when there is none (the caller pulls). */
int agent_prefetch_take(agent *a, const char *ref, char **dir, char **out, uint64_t *ms,
                        cf_error *err);
/* DestroySandbox (loop): kills the pull in progress and skips the rest. */
void agent_prefetch_cancel(agent *a);
/* Once no job is in flight (job.h): unmounts what no container took. */
void agent_prefetch_free(agent *a);

#endif
