/*
 * status_text.h: the readable rendering of the /status JSON (status_text.c).
 */
#ifndef METERD_STATUS_TEXT_H
#define METERD_STATUS_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Write the agent-style report of a /status document to out; 0, or -1 with err. */
int md_status_text(const char *json, size_t len, FILE *out, char *err, size_t errlen);

#endif
