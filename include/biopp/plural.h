/* Counted nouns in messages: "1 epoch", "3 epochs". */
#ifndef BIOPP_PLURAL_H
#define BIOPP_PLURAL_H

/* "" for 1, "s" for any other count: printf("%d epoch%s", n, bp_plural_s(n)). */
static inline const char *bp_plural_s(long long n) { return n == 1 ? "" : "s"; }

#endif
