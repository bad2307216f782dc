/*
 * This CPU, as the block-size model needs it: who made it, which model it
 * says it is (a hypervisor may mask this), and its data caches, read from
 * CPUID on x86 and from Linux's sysfs elsewhere (on aarch64 the model
 * from the MIDR register, via sysfs or /proc/cpuinfo). Pure C, no Python.
 */
#ifndef LINEARC_CPU_H
#define LINEARC_CPU_H

#include <stddef.h>

/* One level of data cache. */
typedef struct {
    size_t size;  /* bytes */
    int ways;     /* associativity */
    int line;     /* bytes */
    int sets;
    int sharing;  /* logical CPUs sharing it */
} lc_cache;

typedef struct {
    char vendor[13];   /* "GenuineIntel", "AuthenticAMD", ...; on aarch64 the
                        * MIDR implementer: "ARM", "Apple", "Ampere", ... */
    int family, model, stepping; /* CPUID's display family and model; on
                                  * aarch64 MIDR's implementer code, part
                                  * number, and variant * 16 + revision */
    char brand[49];
    lc_cache l1d, l2, l3;
    const char *source; /* "cpuid", "sysfs" or "assumed" */
} lc_cpu;

/* This CPU, read once (thread-safe). */
const lc_cpu *lc_cpu_info(void);

/* The readers behind it, with their files as parameters so that tests can
 * feed them any tree (tests/_cpu_files.c). lc_cpu_read_sysfs fills the
 * levels that cpu_dir/cache/index* describe usably and sets source to
 * "sysfs" if any; lc_cpu_read_arm_id fills vendor, family, model, stepping
 * and brand from a MIDR_EL1 file or /proc/cpuinfo's CPU fields, or leaves
 * them when neither says. */
void lc_cpu_read_sysfs(const char *cpu_dir, lc_cpu *cpu);
void lc_cpu_read_arm_id(const char *midr_path, const char *cpuinfo_path, lc_cpu *cpu);

#endif
