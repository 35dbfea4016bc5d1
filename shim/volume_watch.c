/* Copied volumes kept current (volume_watch.h). */
#include "volume_watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "coffer/log.h"
#include "guest_volumes.h"
#include "shim.h"

typedef struct watched {
  int wd;
  char *dir;  /* host directory */
  char *name; /* guest volume name */
} watched;

struct shim_vwatch {
  shim *s;
  char *cid;
  int fd;
  cf_watch *w;
  watched *v;
  size_t n;
};

static void on_put(int status, const char *message, const uint8_t *payload, size_t len,
                   void *data) {
  (void)payload;
  (void)len;
  char *what = data;
  if (status != 0)
    cf_warn("refresh of %s in the guest failed: %s", what, message ? message : "");
  else
    cf_debug("refreshed %s in the guest", what);
  free(what);
}

static void refresh(shim_vwatch *vw, const watched *v) {
  Coffer__Agent__V1__VolumeEntry **e = NULL;
  size_t n = 0;
  cf_error err = {0};
  if (shim_gvol_read(v->dir, &e, &n, &err) < 0) {
    cf_warn("container %s: volume %s not refreshed: %s", vw->cid, v->name, err.msg);
    return;
  }
  Coffer__Agent__V1__PutVolumeFilesRequest r = COFFER__AGENT__V1__PUT_VOLUME_FILES_REQUEST__INIT;
  r.container_id = vw->cid;
  r.volume = v->name;
  r.entries = e;
  r.n_entries = n;
  char *what = NULL;
  if (asprintf(&what, "container %s volume %s (%s)", vw->cid, v->name, v->dir) < 0)
    what = NULL;
  shim_pod_agent_call(vw->s, "PutVolumeFiles", &r.base, vw->s->cfg.agent_timeout_ms, on_put, what);
  shim_gvol_free(e, n);
}

static void on_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  shim_vwatch *vw = data;
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  bool *hit = calloc(vw->n + 1, sizeof(bool));
  for (;;) {
    ssize_t k = read(fd, buf, sizeof(buf));
    if (k <= 0)
      break;
    for (char *p = buf; p < buf + k;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      for (size_t i = 0; hit && i < vw->n; i++)
        if (vw->v[i].wd == ev->wd)
          hit[i] = true;
      p += sizeof(*ev) + ev->len;
    }
  }
  /* one whole refresh per volume per wake-up, however many steps kubelet took */
  for (size_t i = 0; hit && i < vw->n; i++)
    if (hit[i])
      refresh(vw, &vw->v[i]);
  free(hit);
}

shim_vwatch *shim_vwatch_new(shim *s, const char *cid, const shim_volumes *v, cf_error *err) {
  size_t want = 0;
  for (size_t i = 0; i < v->n; i++)
    want += v->copy_src && v->copy_src[i];
  if (want == 0)
    return NULL;
  shim_vwatch *vw = calloc(1, sizeof(*vw));
  if (vw)
    vw->fd = -1;
  if (!vw || !(vw->v = calloc(want, sizeof(*vw->v))) || !(vw->cid = strdup(cid))) {
    shim_vwatch_free(vw);
    cf_err(err, ENOMEM, "volume watch of container %s", cid);
    return NULL;
  }
  vw->s = s;
  vw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (vw->fd < 0) {
    cf_err(err, errno, "inotify for the volumes of container %s", cid);
    shim_vwatch_free(vw);
    return NULL;
  }
  for (size_t i = 0; i < v->n; i++) {
    if (!v->copy_src || !v->copy_src[i])
      continue;
    watched *x = &vw->v[vw->n];
    /* kubelet's swap is a rename in the volume's top directory */
    x->wd = inotify_add_watch(vw->fd, v->copy_src[i],
                              IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                  IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR);
    x->dir = strdup(v->copy_src[i]);
    x->name = strdup(v->mounts[i]->source->source);
    vw->n++;
    if (x->wd < 0 || !x->dir || !x->name) {
      cf_err(err, x->wd < 0 ? errno : ENOMEM, "watch volume %s of container %s",
             v->copy_src[i], cid);
      shim_vwatch_free(vw);
      return NULL;
    }
  }
  vw->w = cf_loop_watch(s->loop, vw->fd, EPOLLIN, on_event, vw, err);
  if (!vw->w) {
    shim_vwatch_free(vw);
    return NULL;
  }
  return vw;
}

void shim_vwatch_free(shim_vwatch *vw) {
  if (!vw)
    return;
  if (vw->w)
    cf_loop_unwatch(vw->w);
  if (vw->fd >= 0)
    close(vw->fd);
  for (size_t i = 0; vw->v && i < vw->n; i++) {
    free(vw->v[i].dir);
    free(vw->v[i].name);
  }
  free(vw->v);
  free(vw->cid);
  free(vw);
}
