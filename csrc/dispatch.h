/* Choosing the kernel set once, from what the CPU supports. */
#ifndef LINEARC_DISPATCH_H
#define LINEARC_DISPATCH_H

#include "kernels/kernels.h"

/*
 * The best kernel set this CPU runs, or the one `request` names ("avx512",
 * "avx2", "neon", "generic"; NULL or "" for the best). Returns NULL and points *why at
 * a static message when the request is unknown, is for another architecture
 * than the build's, or the CPU lacks its features.
 */
const lc_kernel_set *lc_select_kernels(const char *request, const char **why);

/* The instruction sets this CPU supports, best first, as a static string
 * like "avx512 avx2 generic". */
const char *lc_supported_isas(void);

/* NULL if every built kernel set's tiles (packed and direct) fit the
 * planner's limits LC_MAX_MR x LC_MAX_NR, else a static message naming the
 * set that does not. Checked at import. */
const char *lc_kernel_sets_check(void);

/* Every kernel set built into this module, whether this CPU runs it or not
 * (*count of them), best first. */
const lc_kernel_set *const *lc_built_kernel_sets(int *count);

#endif
