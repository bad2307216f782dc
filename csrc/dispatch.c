/*
 * CPU feature checks. Features, not model names: a hypervisor may report any
 * model, and the features are what the kernels need.
 */
#include <string.h>

#include "dispatch.h"

static int
cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int
cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

const char *
lc_supported_isas(void)
{
    if (cpu_has_avx512()) {
        return "avx512 avx2 generic";
    }
    return cpu_has_avx2() ? "avx2 generic" : "generic";
}

const lc_kernel_set *
lc_select_kernels(const char *request, const char **why)
{
    const int avx512 = cpu_has_avx512(), avx2 = cpu_has_avx2();
    if (request == NULL || request[0] == '\0') {
        return avx512 ? &lc_kernels_avx512 : avx2 ? &lc_kernels_avx2 : &lc_kernels_generic;
    }
    if (strcmp(request, "avx512") == 0) {
        if (avx512) {
            return &lc_kernels_avx512;
        }
        *why = "this CPU lacks AVX-512 F/BW/DQ/VL";
        return NULL;
    }
    if (strcmp(request, "avx2") == 0) {
        if (avx2) {
            return &lc_kernels_avx2;
        }
        *why = "this CPU lacks AVX2 and FMA";
        return NULL;
    }
    if (strcmp(request, "generic") == 0) {
        return &lc_kernels_generic;
    }
    *why = "the value is not one of avx512, avx2, generic";
    return NULL;
}

const lc_kernel_set *const *
lc_built_kernel_sets(int *count)
{
    static const lc_kernel_set *const sets[] = {&lc_kernels_avx512, &lc_kernels_avx2,
                                                &lc_kernels_generic};
    *count = (int)(sizeof sets / sizeof sets[0]);
    return sets;
}
