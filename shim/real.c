#include "real.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define HR_STRINGIFY2(x) #x
#define HR_STRINGIFY(x) HR_STRINGIFY2(x)
/* The soname of the libhiredis whose headers the shim was built with. */
#define HR_HIREDIS_SONAME "libhiredis.so." HR_STRINGIFY(HIREDIS_SONAME)

hr_real_table hr_real;

enum { HR_RESOLVE_PENDING, HR_RESOLVE_OK, HR_RESOLVE_FAILED };

static _Atomic int hr_resolve_state = HR_RESOLVE_PENDING;
static pthread_mutex_t hr_resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static const void *hr_default_reader_functions;
#if HR_HIREDIS_1
/* hiredis 1.x's hiredisAllocFns; NULL until resolved. */
static const hiredisAllocFuncs *hr_allocators;
#endif

/* Lookup results, written only under hr_resolve_lock. */
static bool hr_found_in_local_scope;
static bool hr_pin_failed;

/* Returns true when addr lies in the object that contains this function. */
static bool hr_is_own_symbol(const void *addr)
{
    Dl_info mine;
    Dl_info theirs;

    if (dladdr((const void *)hr_is_own_symbol, &mine) == 0)
        return false;
    if (dladdr(addr, &theirs) == 0)
        return false;
    return mine.dli_fbase == theirs.dli_fbase;
}

struct hr_library_search {
    const char *prefix; /* of the file name, such as "libhiredis.so" */
    const char *path;
};

static int hr_find_hiredis(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct hr_library_search *search = arg;
    const char *base;

    (void)size;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 0;
    base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    if (strncmp(base, search->prefix, strlen(search->prefix)) != 0)
        return 0;
    search->path = info->dlpi_name;
    return 1;
}

/*
 * Looks name up in a loaded library whose file name starts with prefix but
 * which is invisible to RTLD_NEXT, as it is when a plugin linked with it
 * was opened with RTLD_LOCAL.
 */
static void *hr_lookup_loaded(const char *prefix, const char *name)
{
    struct hr_library_search search = {prefix, NULL};
    void *handle;
    void *symbol;

    dl_iterate_phdr(hr_find_hiredis, &search);
    if (search.path == NULL)
        return NULL;
    handle = dlopen(search.path, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == NULL)
        return NULL;
    symbol = dlsym(handle, name);
    dlclose(handle);
    return symbol;
}

/*
 * Marks the object that defines symbol RTLD_NODELETE, so that it stays
 * mapped until the process exits. A host that dlclose()s the plugin that
 * brought libhiredis in would otherwise unmap it, and the next plugin's
 * calls would jump through pointers into the old mapping: neither a lookup
 * through RTLD_NEXT nor the fallback's closed handle keeps a reference.
 */
static bool hr_pin_object(const void *symbol)
{
    Dl_info info;
    void *handle;

    if (dladdr(symbol, &info) == 0 || info.dli_fname == NULL)
        return false;
    handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    if (handle == NULL)
        return false;
    dlclose(handle);
    return true;
}

/* Finds name in the next object after the shim, or in a loaded library
 * named prefix*, and keeps that library mapped. */
static void *hr_lookup_in(const char *prefix, const char *name,
                          bool *in_local_scope, bool *pinned)
{
    void *symbol = dlsym(RTLD_NEXT, name);

    *in_local_scope = false;
    if (symbol == NULL || hr_is_own_symbol(symbol)) {
        symbol = hr_lookup_loaded(prefix, name);
        *in_local_scope = symbol != NULL;
    }
    *pinned = symbol != NULL && hr_pin_object(symbol);
    return symbol;
}

static void *hr_lookup(const char *name)
{
    bool in_local_scope;
    bool pinned;
    void *symbol =
        hr_lookup_in("libhiredis.so", name, &in_local_scope, &pinned);

    hr_found_in_local_scope |= in_local_scope;
    if (symbol != NULL && !pinned)
        hr_pin_failed = true;
    return symbol;
}

void *hr_real_lookup_extra(const char *prefix, const char *name)
{
    bool in_local_scope;
    bool pinned;

    return hr_lookup_in(prefix, name, &in_local_scope, &pinned);
}

/* Logs which libhiredis the functions come from and how they were found. */
static void hr_log_found(void)
{
    Dl_info info;

    if (hr_real.redisConnect == NULL ||
        dladdr((const void *)hr_real.redisConnect, &info) == 0 ||
        info.dli_fname == NULL)
        return;
    hr_log(HR_LOG_DEBUG, "event=hiredis_found library=%s scope=%s pinned=%s",
           info.dli_fname, hr_found_in_local_scope ? "local" : "global",
           hr_pin_failed ? "no" : "yes");
}

/* Stores the DT_SONAME of the object that defines addr in *soname. */
static bool hr_soname_of(const void *addr, const char **soname)
{
    Dl_info info;
    struct link_map *map = NULL;
    const char *strtab = NULL;
    ElfW(Xword) offset = 0;
    bool has_soname = false;

    if (dladdr1(addr, &info, (void **)&map, RTLD_DL_LINKMAP) == 0 ||
        map == NULL || map->l_ld == NULL)
        return false;
    for (const ElfW(Dyn) *dyn = map->l_ld; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)dyn->d_un.d_ptr;
        if (dyn->d_tag == DT_SONAME) {
            offset = dyn->d_un.d_val;
            has_soname = true;
        }
    }
    if (strtab == NULL || !has_soname)
        return false;
    *soname = strtab + offset;
    return true;
}

static bool hr_abi_matches(void)
{
    const char *soname;

    if (!hr_soname_of((const void *)hr_real.redisConnect, &soname)) {
        hr_log_once(HR_LOG_WARN,
                    "event=abi_unknown expected=%s "
                    "action=pass_through",
                    HR_HIREDIS_SONAME);
        return false;
    }
    if (strcmp(soname, HR_HIREDIS_SONAME) != 0) {
        hr_log_once(HR_LOG_WARN,
                    "event=abi_mismatch loaded=%s expected=%s "
                    "action=pass_through",
                    soname, HR_HIREDIS_SONAME);
        return false;
    }
    return true;
}

static void hr_find_default_reader_functions(void)
{
    redisReader *reader;

    if (hr_real.redisReaderCreate == NULL || hr_real.redisReaderFree == NULL)
        return;
    reader = hr_real.redisReaderCreate();
    if (reader == NULL)
        return;
    hr_default_reader_functions = reader->fn;
    hr_real.redisReaderFree(reader);
}

static int hr_resolve_all(void)
{
    bool complete = true;

#define HR_REAL_RESOLVE(ret, name, params)                                     \
    hr_real.name = (ret(*) params)hr_lookup(#name);                            \
    if (hr_real.name == NULL)                                                  \
        complete = false;
    HR_REAL_FUNCTIONS(HR_REAL_RESOLVE)
#undef HR_REAL_RESOLVE

    hr_log_found();
    /* The soname comes first: a libhiredis of the other ABI also lacks
       some functions, and the mismatch is what the operator must fix. */
    if (hr_real.redisConnect != NULL && !hr_abi_matches())
        return HR_RESOLVE_FAILED;
    if (!complete) {
        hr_log_once(HR_LOG_WARN, "event=symbols_missing library=libhiredis "
                                 "action=pass_through");
        return HR_RESOLVE_FAILED;
    }
#if HR_HIREDIS_1
    /* RTLD_DEFAULT finds the copy the program's own references use, which
       is the program's when it was linked with a copy relocation. */
    hr_allocators = dlsym(RTLD_DEFAULT, "hiredisAllocFns");
    if (hr_allocators == NULL)
        hr_allocators = hr_lookup("hiredisAllocFns");
#endif
    hr_find_default_reader_functions();
    return HR_RESOLVE_OK;
}

bool hr_real_resolve(void)
{
    int state = atomic_load_explicit(&hr_resolve_state, memory_order_acquire);

    if (state != HR_RESOLVE_PENDING)
        return state == HR_RESOLVE_OK;

    pthread_mutex_lock(&hr_resolve_lock);
    state = atomic_load_explicit(&hr_resolve_state, memory_order_relaxed);
    if (state == HR_RESOLVE_PENDING) {
        state = hr_resolve_all();
        atomic_store_explicit(&hr_resolve_state, state, memory_order_release);
    }
    pthread_mutex_unlock(&hr_resolve_lock);
    return state == HR_RESOLVE_OK;
}

const void *hr_real_default_reader_functions(void)
{
    return hr_default_reader_functions;
}

void hr_real_free(void *ptr)
{
#if HR_HIREDIS_1
    if (hr_allocators != NULL) {
        hr_allocators->freeFn(ptr);
        return;
    }
#endif
    free(ptr);
}

char *hr_real_strdup(const char *text)
{
#if HR_HIREDIS_1
    if (hr_allocators != NULL)
        return hr_allocators->strdupFn(text);
#endif
    return strdup(text);
}

int hr_real_take_command(char **cmd, size_t len)
{
#if HR_HIREDIS_1
    char *copy;

    if (hr_allocators == NULL || hr_allocators->freeFn == free)
        return 0;
    copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, *cmd, len);
        copy[len] = '\0';
    }
    hr_allocators->freeFn(*cmd);
    *cmd = copy;
    return copy != NULL ? 0 : -1;
#else
    (void)cmd;
    (void)len;
    return 0;
#endif
}
