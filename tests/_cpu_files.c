/*
 * csrc/cpu.c's file readers on any tree: tests/test_cpu_files.py writes
 * fake sysfs cache directories, MIDR files and /proc/cpuinfo texts (missing
 * files, "32K" sizes, zero ways, odd lists) and checks what this prints.
 * The readers are the aarch64 ones, and compiled on every architecture.
 *
 *   cc -std=c11 -Icsrc -o /tmp/cpu_files tests/_cpu_files.c csrc/cpu.c -lpthread
 *   /tmp/cpu_files CPU_DIR MIDR_FILE CPUINFO_FILE
 *
 * Prints "source S", "id VENDOR FAMILY MODEL STEPPING BRAND", and one line
 * per level: "l1d SIZE WAYS LINE SETS SHARING" (zeros: not read).
 */
#include <stdio.h>

#include "cpu.h"

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cpu_files CPU_DIR MIDR_FILE CPUINFO_FILE\n");
        return 2;
    }
    lc_cpu cpu = {.source = "assumed"};
    lc_cpu_read_arm_id(argv[2], argv[3], &cpu);
    lc_cpu_read_sysfs(argv[1], &cpu);
    printf("source %s\n", cpu.source);
    printf("id %s %d %d %d %s\n", cpu.vendor[0] ? cpu.vendor : "-", cpu.family, cpu.model,
           cpu.stepping, cpu.brand[0] ? cpu.brand : "-");
    const lc_cache *k[3] = {&cpu.l1d, &cpu.l2, &cpu.l3};
    static const char *const names[3] = {"l1d", "l2", "l3"};
    for (int i = 0; i < 3; i++) {
        printf("%s %zu %d %d %d %d\n", names[i], k[i]->size, k[i]->ways, k[i]->line, k[i]->sets,
               k[i]->sharing);
    }
    return 0;
}
