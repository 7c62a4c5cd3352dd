/* Python's small-object allocator (pymalloc) takes its memory in 1 MiB arenas, each its own mmap:
 * not aligned to 2 MiB, so the kernel backs them with 4 kB pages and never with transparent huge
 * pages. A run of `eval` keeps every member's state in such objects and touches some of it on
 * every event; over tens of megabytes of 4 kB pages much of that is missed in the TLB as well as
 * in the cache. Here the command line hands pymalloc arenas cut from one reserved region that is
 * 2 MiB aligned and marked MADV_HUGEPAGE (the kernel's "madvise" mode, Debian's default): the
 * community pack over 1M events ran ~2 % faster (docs/performance-history.md, eighteenth session).
 *
 * Arenas pymalloc gives back are kept for the next request rather than unmapped, as the command
 * line's heap keeps freed memory (cli/allocator.py). Past the region, and for arenas made before,
 * the previous allocator serves and frees as it did. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/mman.h>

#define ARENA_BYTES ((size_t)1 << 20)          /* pymalloc's ARENA_SIZE since 3.10 */
#define HUGE_PAGE ((size_t)2 << 20)

static PyObjectArenaAllocator previous;
static char *region, *region_end, *fresh;       /* [region, fresh) handed out at least once */
static void *given_back;                        /* arenas pymalloc freed: a list through their first word */

static inline int in_region(void *p) { return (char *)p >= region && (char *)p < region_end; }

static void *arena_alloc(void *Py_UNUSED(ctx), size_t size) {
    if (size == ARENA_BYTES) {
        if (given_back != NULL) {
            void *arena = given_back;
            given_back = *(void **)arena;
            return arena;
        }
        if ((size_t)(region_end - fresh) >= ARENA_BYTES) {
            void *arena = fresh;
            fresh += ARENA_BYTES;
            return arena;
        }
    }
    return previous.alloc(previous.ctx, size);
}

static void arena_free(void *Py_UNUSED(ctx), void *ptr, size_t size) {
    if (ptr != NULL && in_region(ptr)) {
        *(void **)ptr = given_back;
        given_back = ptr;
        return;
    }
    previous.free(previous.ctx, ptr, size);
}

/* huge_page_arenas(reserve): True when pymalloc's next arenas come from a huge-page region of
 * `reserve` bytes (rounded down to whole arenas); False where it cannot be had (no MADV_HUGEPAGE,
 * the reservation refused), and then nothing changed. Once per process: a second call says whether
 * the first one took. */
static PyObject *huge_page_arenas(PyObject *Py_UNUSED(module), PyObject *arg) {
    size_t reserve = PyLong_AsSize_t(arg);
    if (reserve == (size_t)-1 && PyErr_Occurred()) return NULL;
    if (region != NULL) return PyBool_FromLong(1);
#ifdef MADV_HUGEPAGE
    reserve -= reserve % ARENA_BYTES;
    if (reserve == 0) Py_RETURN_FALSE;
    /* Reserved, not committed: pages are backed as arenas first touch them. */
    char *raw = mmap(NULL, reserve + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) Py_RETURN_FALSE;
    char *aligned = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (madvise(aligned, reserve, MADV_HUGEPAGE) != 0) {      /* a kernel without transparent huge pages */
        munmap(raw, reserve + HUGE_PAGE);
        Py_RETURN_FALSE;
    }
    region = fresh = aligned;
    region_end = aligned + reserve;
    PyObject_GetArenaAllocator(&previous);
    PyObjectArenaAllocator mine = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&mine);
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

/* held() -> (start, end, handed out, given back): the region's addresses, how many bytes of it
 * arenas have taken, and how many arenas wait for reuse; all 0 before huge_page_arenas took. */
static PyObject *held(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t waiting = 0;
    for (void *arena = given_back; arena != NULL; arena = *(void **)arena) waiting++;
    return Py_BuildValue("(KKnn)", (unsigned long long)(uintptr_t)region, (unsigned long long)(uintptr_t)region_end,
                         (Py_ssize_t)(fresh - region), waiting);
}

static PyMethodDef functions[] = {
    {"huge_page_arenas", huge_page_arenas, METH_O,
     "huge_page_arenas(reserve) -> bool: pymalloc's next arenas from a region of transparent huge pages"},
    {"held", held, METH_NOARGS, "held() -> (start, end, handed_out, given_back): the region and its use"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arenas", NULL, 0, functions, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__arenas(void) { return PyModule_Create(&module); }
