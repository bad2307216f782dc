/*
 * This CPU: vendor, family, model and data caches (cpu.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cpu.h"

/* ------------------------------------------------------------------------
 * Reading the caches.
 */
static lc_cpu the_cpu;

#if defined(__x86_64__) || defined(__i386__)
/* Deterministic cache parameters: CPUID leaf 4 (Intel) and 0x8000001D (AMD)
 * share one layout. Returns the number of data/unified levels found. */
static int
read_cache_leaf(unsigned leaf, lc_cpu *cpu)
{
    int found = 0;
    for (unsigned sub = 0; sub < 16; sub++) {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(leaf, sub, &a, &b, &c, &d) || (a & 31) == 0) {
            break;
        }
        const unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 2) {
            continue; /* instruction cache */
        }
        lc_cache k = {
            .ways = (int)((b >> 22) & 1023) + 1,
            .line = (int)(b & 4095) + 1,
            .sets = (int)c + 1,
            .sharing = (int)((a >> 14) & 4095) + 1,
        };
        k.size = (size_t)k.ways * (((b >> 12) & 1023) + 1) * (size_t)k.line * (size_t)k.sets;
        lc_cache *dst = level == 1 ? &cpu->l1d : level == 2 ? &cpu->l2 : level == 3 ? &cpu->l3
                                                                                  : NULL;
        if (dst != NULL) {
            *dst = k;
            found++;
        }
    }
    return found;
}

static void
read_cpuid(lc_cpu *cpu)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) {
        return;
    }
    const unsigned max_leaf = a;
    memcpy(cpu->vendor, &b, 4);
    memcpy(cpu->vendor + 4, &d, 4);
    memcpy(cpu->vendor + 8, &c, 4);
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int base = (int)((a >> 8) & 15);
        cpu->family = base == 15 ? base + (int)((a >> 20) & 255) : base;
        cpu->model = (int)((a >> 4) & 15);
        cpu->stepping = (int)(a & 15);
        if (base == 6 || base == 15) {
            cpu->model |= (int)((a >> 12) & 0xF0);
        }
    }
    unsigned brand[12] = {0};
    for (unsigned i = 0; i < 3; i++) {
        if (!__get_cpuid(0x80000002u + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2],
                         &brand[4 * i + 3])) {
            break;
        }
    }
    memcpy(cpu->brand, brand, 48);
    const unsigned max_ext = __get_cpuid_max(0x80000000u, NULL);
    if ((max_leaf >= 4 && read_cache_leaf(4, cpu) > 0) ||
        (max_ext >= 0x8000001Du && read_cache_leaf(0x8000001Du, cpu) > 0)) {
        cpu->source = "cpuid";
    }
}
#endif

/* The Main ID Register: implementer, variant, part and revision. Linux
 * exports it per CPU in sysfs (midr_path), and /proc/cpuinfo (cpuinfo_path)
 * shows its fields. Compiled everywhere, so that tests can feed it files. */
static int
read_midr(const char *midr_path, const char *cpuinfo_path, unsigned long long *midr)
{
    FILE *f = fopen(midr_path, "r");
    if (f != NULL) {
        const int ok = fscanf(f, "%llx", midr) == 1;
        fclose(f);
        if (ok) {
            return 1;
        }
    }
    f = fopen(cpuinfo_path, "r");
    if (f == NULL) {
        return 0;
    }
    unsigned impl = 0, variant = 0, part = 0, rev = 0;
    int seen = 0;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL && seen != 15) {
        unsigned v;
        if (sscanf(line, "CPU implementer : %x", &v) == 1) {
            impl = v, seen |= 1;
        }
        else if (sscanf(line, "CPU variant : %x", &v) == 1) {
            variant = v, seen |= 2;
        }
        else if (sscanf(line, "CPU part : %x", &v) == 1) {
            part = v, seen |= 4;
        }
        else if (sscanf(line, "CPU revision : %u", &v) == 1) {
            rev = v, seen |= 8;
        }
    }
    fclose(f);
    if ((seen & 5) != 5) {
        return 0;
    }
    *midr = (unsigned long long)(impl & 0xFF) << 24 | (unsigned long long)(variant & 15) << 20 |
            (unsigned long long)(part & 0xFFF) << 4 | (rev & 15);
    return 1;
}

/* On aarch64: vendor is the implementer, family its MIDR code, model the
 * part number, stepping variant * 16 + revision; the brand names the core
 * when it is one of a few common ones. */
void
lc_cpu_read_arm_id(const char *midr_path, const char *cpuinfo_path, lc_cpu *cpu)
{
    unsigned long long midr = 0;
    if (!read_midr(midr_path, cpuinfo_path, &midr)) {
        return;
    }
    const unsigned impl = (unsigned)(midr >> 24) & 0xFF, part = (unsigned)(midr >> 4) & 0xFFF;
    static const struct {
        unsigned code;
        const char *name;
    } implementers[] = {{0x41, "ARM"},     {0x42, "Broadcom"}, {0x43, "Cavium"},
                        {0x46, "Fujitsu"}, {0x48, "HiSilicon"}, {0x4E, "NVIDIA"},
                        {0x51, "Qualcomm"}, {0x61, "Apple"},   {0xC0, "Ampere"}};
    static const struct {
        unsigned impl, part;
        const char *name;
    } cores[] = {{0x41, 0xD03, "Cortex-A53"},  {0x41, 0xD07, "Cortex-A57"},
                 {0x41, 0xD08, "Cortex-A72"},  {0x41, 0xD0B, "Cortex-A76"},
                 {0x41, 0xD0C, "Neoverse-N1"}, {0x41, 0xD40, "Neoverse-V1"},
                 {0x41, 0xD49, "Neoverse-N2"}, {0x41, 0xD4F, "Neoverse-V2"},
                 {0xC0, 0xAC3, "Ampere-1"}};
    snprintf(cpu->vendor, sizeof cpu->vendor, "0x%02X", impl);
    for (size_t i = 0; i < sizeof implementers / sizeof implementers[0]; i++) {
        if (implementers[i].code == impl) {
            snprintf(cpu->vendor, sizeof cpu->vendor, "%s", implementers[i].name);
        }
    }
    cpu->family = (int)impl;
    cpu->model = (int)part;
    cpu->stepping = (int)(((midr >> 20) & 15) * 16 + (midr & 15));
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
        if (cores[i].impl == impl && cores[i].part == part) {
            snprintf(cpu->brand, sizeof cpu->brand, "%s %s", cpu->vendor, cores[i].name);
        }
    }
}

/* A positive number from dir/file ("32768", "32K", "1M"), or -1 when the
 * file is missing, empty, not a number, not positive or absurdly large
 * (more than 2^40: no cache or line is). */
static long
read_long(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    char text[64] = "";
    if (f == NULL) {
        return -1;
    }
    const int got = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    /* strtoll, not scanf: an out-of-range number saturates, no UB. */
    char *end = text;
    long long v = got ? strtoll(text, &end, 10) : -1;
    const char unit = *end;
    if (end == text) {
        return -1;
    }
    const long long limit = 1LL << 40;
    if (v <= 0 || v > limit) {
        return -1;
    }
    v = unit == 'K' ? v << 10 : unit == 'M' ? v << 20 : unit == 'G' ? v << 30 : v;
    return v > limit ? -1 : (long)v;
}

/* CPUs in a shared_cpu_list ("0-3,8-11", "5"), at least 1. */
static int
read_cpu_list(const char *dir)
{
    char path[512], text[4096] = "";
    snprintf(path, sizeof path, "%s/shared_cpu_list", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 1;
    }
    const int got = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    long count = 0;
    for (const char *q = text; got && *q != '\0' && *q != '\n';) {
        char *e;
        const long a = strtol(q, &e, 10);
        if (e == q || a < 0) {
            break;
        }
        long b = a;
        q = e;
        if (*q == '-') {
            b = strtol(q + 1, &e, 10);
            if (e == q + 1 || b < a) {
                break;
            }
            q = e;
        }
        count += b - a + 1;
        if (*q == ',') {
            q++;
        }
        else if (*q != '\0' && *q != '\n') {
            break;
        }
    }
    return count < 1 ? 1 : count > 65536 ? 65536 : (int)count;
}

/* Linux's view of the same tables, for CPUs whose CPUID says nothing:
 * cpu_dir/cache/index<i>/. Linux hides an attribute it does not know
 * (firmware may give an arm64 cache's size but not its ways or sets), so a
 * level with a size takes what is missing from the others, or a common
 * value: 64-byte lines, 8 ways for L1 and 16 beyond. A level without any
 * usable size is left to assume(). */
void
lc_cpu_read_sysfs(const char *cpu_dir, lc_cpu *cpu)
{
    int found = 0;
    for (int i = 0; i < 8; i++) {
        char dir[400], type[32] = "";
        snprintf(dir, sizeof dir, "%s/cache/index%d", cpu_dir, i);
        const long level = read_long(dir, "level");
        char path[600];
        snprintf(path, sizeof path, "%s/type", dir);
        FILE *f = fopen(path, "r");
        if (level < 0 || f == NULL || fscanf(f, "%31s", type) != 1 || strcmp(type, "Instruction") == 0) {
            if (f != NULL) {
                fclose(f);
            }
            continue;
        }
        fclose(f);
        lc_cache *dst = level == 1 ? &cpu->l1d : level == 2 ? &cpu->l2 : level == 3 ? &cpu->l3
                                                                                  : NULL;
        if (dst == NULL) {
            continue;
        }
        long size = read_long(dir, "size"), ways = read_long(dir, "ways_of_associativity");
        long line = read_long(dir, "coherency_line_size"), sets = read_long(dir, "number_of_sets");
        line = line > 0 && line <= 4096 ? line : 64;
        ways = ways > 0 && ways <= 1024 ? ways : -1;
        if (size <= 0 && ways > 0 && sets > 0) {
            size = ways * line * sets;
        }
        if (size < 1024) {
            continue; /* no size, or none a data cache has */
        }
        if (ways < 0) {
            ways = sets > 0 && size % (line * sets) == 0 && size / (line * sets) <= 1024
                       ? size / (line * sets)
                       : level == 1 ? 8 : 16;
        }
        /* The sets follow from the rest, whatever the file said. */
        sets = size / (ways * line);
        if (sets < 1 || sets > (1L << 24)) {
            continue;
        }
        *dst = (lc_cache){.size = (size_t)size, .ways = (int)ways, .line = (int)line,
                          .sets = (int)sets, .sharing = read_cpu_list(dir)};
        found++;
    }
    if (found > 0) {
        cpu->source = "sysfs";
    }
}

/* A level nothing reported: a common size, so the model still works. */
static void
assume(lc_cache *k, size_t size, int ways)
{
    if (k->size == 0 || k->ways <= 0 || k->line <= 0 || k->sets <= 0) {
        *k = (lc_cache){.size = size, .ways = ways, .line = 64, .sharing = 1};
        k->sets = (int)(size / ((size_t)ways * 64));
    }
}

static void
read_cpu(void)
{
    lc_cpu *cpu = &the_cpu;
    cpu->source = "assumed";
#if defined(__x86_64__) || defined(__i386__)
    read_cpuid(cpu);
#endif
#if defined(__aarch64__)
    lc_cpu_read_arm_id("/sys/devices/system/cpu/cpu0/regs/identification/midr_el1",
                       "/proc/cpuinfo", cpu);
#endif
    if (strcmp(cpu->source, "assumed") == 0) {
        lc_cpu_read_sysfs("/sys/devices/system/cpu/cpu0", cpu);
    }
    assume(&cpu->l1d, 32 << 10, 8);
    assume(&cpu->l2, 1 << 20, 16);
    assume(&cpu->l3, 8 << 20, 16);
}

const lc_cpu *
lc_cpu_info(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_cpu);
    return &the_cpu;
}

