/* Structured log lines: `time=... level=... msg="..." key=value ...`.
 * The shim's stderr is the bundle's `log` fifo, so containerd shows them. */
#ifndef COFFER_LOG_H
#define COFFER_LOG_H

enum cf_log_level { CF_LOG_ERROR = 0, CF_LOG_WARN, CF_LOG_INFO, CF_LOG_DEBUG };

void cf_log_init(const char *component, enum cf_log_level level, int fd);
int cf_log_level_parse(const char *name); /* "debug" → CF_LOG_DEBUG, -1 if unknown */
enum cf_log_level cf_log_level_get(void);
/* kv: optional extra `key=value` pairs already formatted, or NULL. */
void cf_log(enum cf_log_level level, const char *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cf_error_log(...) cf_log(CF_LOG_ERROR, NULL, __VA_ARGS__)
#define cf_warn(...) cf_log(CF_LOG_WARN, NULL, __VA_ARGS__)
#define cf_info(...) cf_log(CF_LOG_INFO, NULL, __VA_ARGS__)
#define cf_debug(...) cf_log(CF_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
