/* A memory-hungry neighbour for benchmarks/neighbour.py: random reads and writes over a buffer far
 * larger than any cache, for ever, so that the core it runs on keeps the shared last-level cache
 * full of its lines and the memory bus busy — what another tenant of this virtual machine's host
 * does in the hours the community pack runs 40 % slower (docs/performance.md, twenty-seventh
 * session). It ends with its parent (PR_SET_PDEATHSIG) or on any signal that ends a process.
 *
 *     neighbour [MiB]      (default 256)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
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
