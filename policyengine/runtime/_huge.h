/* Large arrays in memory the kernel may back with transparent huge pages.
 *
 * The member index's slots are read at random, one per event, over tens of megabytes at a million
 * members: with 4 kB pages most of those reads miss in the TLB as well as in the cache. glibc marks
 * nothing for huge pages unless told at start (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, which took
 * 10M events over 1M members 4.81-4.99 -> 4.56-4.83 s of user CPU). An array of HUGE_FROM bytes or
 * more is an anonymous mapping here, 2 MiB aligned and marked MADV_HUGEPAGE (the kernel's
 * "madvise" mode, Debian's default); a smaller one is PyMem's. Free with the size it was made
 * with: the size says which it is. */
#ifndef POLICYENGINE_HUGE_H
#define POLICYENGINE_HUGE_H

#include <Python.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE_BYTES ((size_t)2 << 20)
#define HUGE_FROM ((size_t)4 << 20)

static inline size_t huge_span(size_t bytes) {
    return (bytes + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
}

/* `bytes` of zeroed memory, or NULL (no exception set). */
static void *huge_calloc(size_t bytes) {
    if (bytes < HUGE_FROM) return PyMem_Calloc(1, bytes ? bytes : 1);
    size_t span = huge_span(bytes);
    char *got = mmap(NULL, span + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (got == MAP_FAILED) return NULL;
    char *aligned = (char *)(((uintptr_t)got + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
    if (aligned > got) munmap(got, (size_t)(aligned - got));
    size_t tail = (size_t)(got + span + HUGE_PAGE_BYTES - (aligned + span));
    if (tail) munmap(aligned + span, tail);
#ifdef MADV_HUGEPAGE
    madvise(aligned, span, MADV_HUGEPAGE);     /* only a hint: a kernel without it keeps small pages */
#endif
    return aligned;                            /* anonymous memory is zeroed */
}

static void huge_free(void *p, size_t bytes) {
    if (p == NULL) return;
    if (bytes < HUGE_FROM) PyMem_Free(p);
    else munmap(p, huge_span(bytes));
}

#endif
