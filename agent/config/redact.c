/*
 * redact.c: what may be printed of a secret. Every output of the
 * configuration (configcheck, errors, status) goes through these two, so
 * an API key shows only its last characters and a URL never shows its
 * user:password or its query string (where some backends take a token).
 */
#include <stdio.h>
#include <string.h>

#include "meterd/config.h"

const char *md_config_redact(const char *secret, char *buf, size_t len)
{
    static const char stars[] = "***************";
    size_t n = secret ? strlen(secret) : 0;
    if (!len)
        return buf;
    if (n == 0)
        buf[0] = '\0';
    else if (n < 8) /* the last 4 of a short key would be most of it */
        snprintf(buf, len, "%s", stars);
    else
        snprintf(buf, len, "%s%s", stars, secret + n - 4);
    return buf;
}

const char *md_url_redact(const char *url, char *buf, size_t len)
{
    const char *p = url ? url : "";
    const char *scheme_end = strstr(p, "://");
    const char *host = scheme_end ? scheme_end + 3 : p;
    const char *auth_end = host + strcspn(host, "/?#");
    const char *at = NULL;
    for (const char *s = host; s < auth_end; s++)
        if (*s == '@')
            at = s; /* the last '@': a password may contain one */
    const char *rest = at ? at + 1 : host;
    const char *q = rest + strcspn(rest, "?#");
    if (!len)
        return buf;
    snprintf(buf, len, "%.*s%s%.*s%s", (int)(host - p), p, at ? "***@" : "", (int)(q - rest), rest,
             *q == '?' ? "?***" : "");
    return buf;
}
