/* Scope-bound cleanup helpers: early returns cannot leak. */
#ifndef COFFER_CLEANUP_H
#define COFFER_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void cf_freep(void *p) { free(*(void **)p); }
static inline void cf_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}
static inline void cf_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void cf_closedirp(DIR **d) { if (*d) closedir(*d); }

#define _cleanup_free_ _cleanup_(cf_freep)
#define _cleanup_close_ _cleanup_(cf_closep)
#define _cleanup_fclose_ _cleanup_(cf_fclosep)
#define _cleanup_closedir_ _cleanup_(cf_closedirp)

/* Hand ownership out of a cleanup-scoped variable. */
#define cf_steal_ptr(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define cf_steal_fd(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* protobuf-c messages: _cleanup_pb_(foo__bar__free_unpacked) Foo__Bar *m; */
#define CF_DEFINE_PB_CLEANUP(type, freefn) \
  static inline void freefn##p(type **m) { if (*m) freefn(*m, NULL); }

/* Any unpacked protobuf-c message, one attribute for every type (protobuf-c
 * frees a message through its descriptor):
 *   _cleanup_pb_ Foo__Bar *m = foo__bar__unpack(NULL, len, data); */
struct ProtobufCMessage;
struct ProtobufCAllocator;
void protobuf_c_message_free_unpacked(struct ProtobufCMessage *message,
                                      struct ProtobufCAllocator *allocator);
static inline void cf_pb_freep(void *p) {
  struct ProtobufCMessage **m = p;
  if (*m)
    protobuf_c_message_free_unpacked(*m, NULL);
}
#define _cleanup_pb_ __attribute__((cleanup(cf_pb_freep)))

#endif
