/*
 * budget.c: per-origin context caps and their rate-limited log lines (see
 * budget.h). Runs on the thread that owns the aggregator; it writes a log
 * line at most once a minute per budget, never per sample.
 */
#include "budget.h"

#include "log.h"

void md_budget_init(struct md_budget *b, const char *key, const char *what, uint32_t limit)
{
    *b = (struct md_budget){.key = key, .what = what, .limit = limit};
}

static void report(struct md_budget *b, double now)
{
    md_warn("%s (%u): %llu sample(s) of new %s contexts dropped in the last %.0f s; "
            "%u contexts live", b->key, b->limit, (unsigned long long)(b->drops - b->logged),
            b->what, now - b->last_log, b->live);
    b->logged = b->drops;
    b->last_log = now;
    b->lines++;
}

bool md_budget_take(struct md_budget *b, double now)
{
    if (!b->limit || b->live < b->limit) {
        b->live++;
        return true;
    }
    b->drops++;
    if (b->last_log == 0) {
        md_warn("%s reached: %u live %s contexts; samples of new %s contexts are dropped and "
                "counted until some expire (raise %s to keep more)", b->key, b->limit, b->what,
                b->what, b->key);
        b->logged = b->drops;
        b->last_log = now > 0 ? now : 1e-9;
        b->lines++;
    } else if (now - b->last_log >= MD_BUDGET_LOG_EVERY) {
        report(b, now);
    }
    return false;
}

void md_budget_release(struct md_budget *b)
{
    if (b->live)
        b->live--;
}

void md_budget_tick(struct md_budget *b, double now)
{
    if (b->drops > b->logged && now - b->last_log >= MD_BUDGET_LOG_EVERY)
        report(b, now);
}
