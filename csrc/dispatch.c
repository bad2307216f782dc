/*
 * CPU feature checks and the table of kernel sets. Features, not model
 * names: a hypervisor may report any model, and the features are what the
 * kernels need. Every set linearc has is named here with its architecture;
 * only those of the architecture this module is built for are linked in.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "dispatch.h"

static int
cpu_has_avx512(void)
{
#if defined(__x86_64__)
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
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c"); /* every AVX2 CPU has it: the half conversions */
#else
    return 0;
#endif
}

/* Advanced SIMD (with double precision and FMLA) is part of the AArch64
 * base architecture; Linux still reports it, so ask. */
static int
cpu_has_neon(void)
{
#if defined(__aarch64__) && defined(__linux__) && defined(AT_HWCAP)
    return (getauxval(AT_HWCAP) & (1UL << 1)) != 0; /* HWCAP_ASIMD */
#elif defined(__aarch64__)
    return 1;
#else
    return 0;
#endif
}

static int
cpu_any(void)
{
    return 1;
}

typedef struct {
    const char *name;         /* LINEARC_ISA's value */
    const char *arch;         /* where it runs */
    const lc_kernel_set *set; /* NULL: not in a build for this architecture */
    int (*supported)(void);
    const char *lacks; /* why a CPU of the right architecture cannot run it */
} known_set;

/* Best first. */
static const known_set known[] = {
#if defined(__x86_64__)
    {"avx512", "x86-64", &lc_kernels_avx512, cpu_has_avx512, "this CPU lacks AVX-512 F/BW/DQ/VL"},
    {"avx2", "x86-64", &lc_kernels_avx2, cpu_has_avx2, "this CPU lacks AVX2, FMA and F16C"},
#else
    {"avx512", "x86-64", NULL, cpu_has_avx512, NULL},
    {"avx2", "x86-64", NULL, cpu_has_avx2, NULL},
#endif
#if defined(__aarch64__)
    {"neon", "aarch64", &lc_kernels_neon, cpu_has_neon, "this CPU lacks Advanced SIMD"},
#else
    {"neon", "aarch64", NULL, cpu_has_neon, NULL},
#endif
    {"generic", "any", &lc_kernels_generic, cpu_any, NULL},
};
enum { KNOWN = (int)(sizeof known / sizeof known[0]) };

static char supported_text[64];

static void
list_supported(void)
{
    for (int i = 0; i < KNOWN; i++) {
        if (known[i].set != NULL && known[i].supported()) {
            if (supported_text[0] != '\0') {
                strcat(supported_text, " ");
            }
            strcat(supported_text, known[i].name);
        }
    }
}

const char *
lc_supported_isas(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, list_supported);
    return supported_text;
}

const lc_kernel_set *
lc_select_kernels(const char *request, const char **why)
{
    const int any = request == NULL || request[0] == '\0';
    for (int i = 0; i < KNOWN; i++) {
        const known_set *k = &known[i];
        if (!any && strcmp(request, k->name) != 0) {
            continue;
        }
        if (k->set == NULL) {
            if (any) {
                continue;
            }
            *why = strcmp(k->arch, "x86-64") == 0
                       ? "its kernels are for x86-64, and this module is built for " LC_BUILD_ARCH
                       : "its kernels are for aarch64, and this module is built for " LC_BUILD_ARCH;
            return NULL;
        }
        if (k->supported()) {
            return k->set;
        }
        if (!any) {
            *why = k->lacks;
            return NULL;
        }
    }
    *why = "the value is not one of avx512, avx2, neon, generic";
    return NULL;
}

const lc_kernel_set *const *
lc_built_kernel_sets(int *count)
{
    static const lc_kernel_set *const sets[] = {
#if defined(__x86_64__)
        &lc_kernels_avx512, &lc_kernels_avx2,
#endif
#if defined(__aarch64__)
        &lc_kernels_neon,
#endif
        &lc_kernels_generic,
    };
    *count = (int)(sizeof sets / sizeof sets[0]);
    return sets;
}

const char *
lc_kernel_sets_check(void)
{
    static char msg[160];
    int count = 0;
    const lc_kernel_set *const *sets = lc_built_kernel_sets(&count);
    for (int s = 0; s < count; s++) {
        const lc_kernel_ops *ops[2] = {&sets[s]->f32, &sets[s]->f64};
        for (int t = 0; t < 2; t++) {
            const lc_kernel_ops *o = ops[t];
            if (o->mr < 1 || o->nr < 1 || o->dmr < 1 || o->dnr < 1 || o->mr > LC_MAX_MR ||
                o->nr > LC_MAX_NR || o->dmr > LC_MAX_MR || o->dnr > LC_MAX_NR ||
                o->tile == NULL || o->direct == NULL) {
                snprintf(msg, sizeof msg,
                         "kernel set %s (%s): tile %dx%d, direct tile %dx%d; the planner "
                         "handles at most %dx%d",
                         sets[s]->name, t == 0 ? "float32" : "float64", o->mr, o->nr, o->dmr,
                         o->dnr, LC_MAX_MR, LC_MAX_NR);
                return msg;
            }
        }
    }
    return NULL;
}
