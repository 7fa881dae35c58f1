/*
 * log.h: leveled logging in the Datadog agent's line format
 * ("2026-01-02 15:04:05 UTC | METERD | INFO | (file.c:12 in fn) | message"),
 * to stderr, so operators' grep habits and log pipelines work unchanged.
 * Never pass the API key to these functions.
 */
#ifndef METERD_LOG_H
#define METERD_LOG_H

enum md_log_level { MD_LOG_TRACE, MD_LOG_DEBUG, MD_LOG_INFO, MD_LOG_WARN, MD_LOG_ERROR, MD_LOG_OFF };

void md_log_set_level(enum md_log_level l);
/* Returns -1 for an unknown name. */
int md_log_level_parse(const char *name);
void md_log_at(enum md_log_level l, const char *file, int line, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define md_log(l, ...) md_log_at((l), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define md_debug(...) md_log(MD_LOG_DEBUG, __VA_ARGS__)
#define md_info(...) md_log(MD_LOG_INFO, __VA_ARGS__)
#define md_warn(...) md_log(MD_LOG_WARN, __VA_ARGS__)
#define md_error(...) md_log(MD_LOG_ERROR, __VA_ARGS__)

#endif
