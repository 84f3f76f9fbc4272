/* biopp's version, and the commit it was built from (for the records a run
 * and a sweep write: final.json, config.ini, the summaries). */
#ifndef BIOPP_VERSION_H
#define BIOPP_VERSION_H

#define BIOPP_VERSION "0.1.0"

/* `git describe --always --dirty` of the source tree when it was built
 * (the Makefile writes it into build/version_commit.h), "unknown" when it
 * was built outside a git checkout (a tarball). */
const char *bp_build_commit(void);

#endif
