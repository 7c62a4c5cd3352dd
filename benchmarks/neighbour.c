/* A memory-hungry neighbour for benchmarks/neighbour.py: random reads and writes over a buffer far
 * larger than any cache, for ever, so that the core it runs on keeps the shared last-level cache
 * full of its lines and the memory bus busy — what another tenant of this virtual machine's host
 * does in the hours the community pack runs 40 % slower (docs/performance-history.md, twenty-seventh
 * session). It ends with its parent (PR_SET_PDEATHSIG) or on any signal that ends a process.
 *
 *     neighbour [MiB]      (default 256)
 *     neighbour probe      the nanoseconds a load takes in a chain through 16 MiB, on stdout
 *
 * The probe is what says whether the neighbour reached the measured core's cache: 16 MiB is past
 * a core's own 1 MiB and inside the shared 32 MiB, so each load of the chain is a hit there alone
 * and a trip to memory where the neighbour has filled it. Where the host puts the two cores apart,
 * the two figures are alike and a run beside the neighbour measures nothing of the slow hour.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/prctl.h>

#define PROBE_MIB 16
#define PROBE_LOADS 4000000

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A chain through every word of the buffer in a random order (Sattolo's shuffle: one cycle), each
 * load's address the one before's value: no load starts before the last ends, none is prefetched. */
static int probe(void) {
    size_t words = (size_t)PROBE_MIB << 17;
    uint64_t *next = malloc(words * sizeof *next);
    if (next == NULL) return 1;
    for (size_t i = 0; i < words; i++) next[i] = i;
    uint64_t x = 88172645463325252u;
    for (size_t i = words - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = x % i;
        uint64_t t = next[i];
        next[i] = next[j];
        next[j] = t;
    }
    uint64_t at = 0;
    for (size_t i = 0; i < words; i++) at = next[at];          /* once round: the chain warm */
    double start = seconds();
    for (long i = 0; i < PROBE_LOADS; i++) at = next[at];
    double took = seconds() - start;
    printf("%.1f %llu\n", took * 1e9 / PROBE_LOADS, (unsigned long long)at);   /* `at` printed: the chain is used */
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "probe") == 0) return probe();
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    if (mib == 0) mib = 256;
    size_t words = mib << 17;                          /* 8-byte words in `mib` MiB */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* volatile: nothing reads what the loop computes, and a compiler may drop all of it otherwise */
    volatile uint64_t *a = malloc(words * sizeof *a);
    if (a == NULL) {
        fprintf(stderr, "neighbour: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < words; i++) a[i] = i * 2654435761u;   /* every page touched: resident */
    uint64_t x = 88172645463325252u, sum = 0;
    for (;;) {                                         /* xorshift64: addresses no prefetcher follows */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum += a[x % words];
        a[(x >> 7) % words] = sum;                     /* dirty lines: written back, more traffic */
    }
}
