/* The build's commit: the only file that includes the generated header, so
 * that a new commit recompiles this file alone (Makefile, "version"). */
#include "biopp/version.h"

#include "version_commit.h"

const char *bp_build_commit(void) { return BIOPP_COMMIT; }
