/*
 * hr_plugin_host: a host process that loads hiredis privately, as daemons
 * with plugins do. It links no libhiredis. It opens a plugin that links
 * libhiredis with dlopen(RTLD_NOW | RTLD_LOCAL), so libhiredis stays out of
 * the global scope and dlsym(RTLD_NEXT) in a preloaded shim cannot see it.
 * It configures and runs the plugin, prints "key=value" result lines like
 * hr_workload's, and can close and open the plugin again for more rounds.
 *
 * For each round it also prints where libhiredis was mapped and whether
 * dlclose() unmapped it. With --reserve-unmapped it then reserves the
 * address range that libhiredis occupied, so that the next round has to
 * map libhiredis at another address and any pointer into the old mapping
 * faults at once.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HR_EXIT_OK 0      /* every round ran, even if commands failed */
#define HR_EXIT_FAILURE 1 /* the plugin could not be loaded or configured */
#define HR_EXIT_USAGE 2   /* invalid arguments */
#define HR_EXIT_CONNECT 3 /* the plugin's initial connection failed */

#define HR_ROUNDS_MAX 10

static const char hr_usage[] =
    "usage: hr_plugin_host [options] PLUGIN [KEY=VALUE ...]\n"
    "\n"
    "Opens the shared library PLUGIN with dlopen(RTLD_NOW | RTLD_LOCAL),\n"
    "passes each KEY=VALUE to its hr_plugin_configure(), runs it, prints\n"
    "key=value results, and closes it with dlclose(). Exit status: 0 when\n"
    "every round ran, even with errors; 1 when the plugin could not be\n"
    "loaded or configured; 2 for invalid arguments; 3 when the plugin's\n"
    "initial connection failed.\n"
    "\n"
    "  --rounds N           open, run and close the plugin N times\n"
    "                       (default 1, at most 10)\n"
    "  --global             open the plugin with RTLD_GLOBAL instead\n"
    "  --reserve-unmapped   after a round whose dlclose() unmapped\n"
    "                       libhiredis, reserve its old address range so\n"
    "                       that the next round maps it elsewhere\n";

typedef struct hr_host_options {
    int rounds;
    bool global;
    bool reserve_unmapped;
    const char *plugin_path;
    char **settings; /* KEY=VALUE arguments */
    int setting_count;
} hr_host_options;

/* The plugin's entry points, found with dlsym(). */
typedef struct hr_plugin {
    void *handle;
    int (*configure)(const char *key, const char *value);
    int (*run)(void);
    long long (*count)(const char *name);
    const char *(*first_error)(void);
    const char *(*last_error)(void);
    void (*shutdown)(void);
} hr_plugin;

/* Where libhiredis was mapped: the span of its PT_LOAD segments. */
typedef struct hr_mapping {
    bool found;
    uintptr_t start;
    uintptr_t end;
} hr_mapping;

/* The counts the host reads from the plugin after each round. */
static const char *const hr_count_names[] = {
    "ops", "ok", "errors", "incr_acknowledged", "last_incr_value",
};
#define HR_COUNTS (sizeof(hr_count_names) / sizeof(hr_count_names[0]))

typedef struct hr_totals {
    long long counts[HR_COUNTS];
    char first_error[256];
    char last_error[256];
} hr_totals;

static bool hr_is_hiredis(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return strncmp(base, "libhiredis.so", strlen("libhiredis.so")) == 0;
}

static int hr_find_mapping(struct dl_phdr_info *info, size_t size, void *arg)
{
    hr_mapping *mapping = arg;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t low = UINTPTR_MAX;
    uintptr_t high = 0;

    (void)size;
    if (info->dlpi_name == NULL || !hr_is_hiredis(info->dlpi_name))
        return 0;

    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *phdr = &info->dlpi_phdr[i];

        if (phdr->p_type != PT_LOAD)
            continue;
        if (phdr->p_vaddr < low)
            low = phdr->p_vaddr;
        if (phdr->p_vaddr + phdr->p_memsz > high)
            high = phdr->p_vaddr + phdr->p_memsz;
    }
    mapping->found = high > low;
    mapping->start = (info->dlpi_addr + low) & ~(page - 1);
    mapping->end = (info->dlpi_addr + high + page - 1) & ~(page - 1);
    return 1;
}

/* Finds libhiredis in the loader's list of loaded objects. */
static hr_mapping hr_hiredis_mapping(void)
{
    hr_mapping mapping = {false, 0, 0};

    dl_iterate_phdr(hr_find_mapping, &mapping);
    return mapping;
}

/* Returns how many lines of /proc/self/maps name libhiredis, or -1. */
static int hr_hiredis_maps_lines(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 128];
    int lines = 0;

    if (maps == NULL)
        return -1;
    while (fgets(line, sizeof(line), maps) != NULL) {
        const char *path = strchr(line, '/');

        line[strcspn(line, "\n")] = '\0';
        if (path != NULL && hr_is_hiredis(path))
            lines++;
    }
    fclose(maps);
    return lines;
}

/*
 * Reserves [start, end) with an inaccessible mapping that the process
 * keeps until it exits. Returns 0, or -1 after printing why it failed.
 */
static int hr_reserve(const hr_mapping *mapping)
{
    size_t length = mapping->end - mapping->start;
    void *address =
        mmap((void *)mapping->start, length, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (address == MAP_FAILED) {
        fprintf(stderr, "hr_plugin_host: reserving %#lx-%#lx failed: %s\n",
                (unsigned long)mapping->start, (unsigned long)mapping->end,
                strerror(errno));
        return -1;
    }
    /* Kernels before Linux 4.17 take the address only as a hint. */
    if ((uintptr_t)address != mapping->start) {
        fprintf(stderr, "hr_plugin_host: %#lx-%#lx is in use\n",
                (unsigned long)mapping->start, (unsigned long)mapping->end);
        munmap(address, length);
        return -1;
    }
    return 0;
}

static void *hr_plugin_symbol(hr_plugin *plugin, const char *name)
{
    void *symbol = dlsym(plugin->handle, name);

    if (symbol == NULL)
        fprintf(stderr, "hr_plugin_host: %s not found in the plugin: %s\n",
                name, dlerror());
    return symbol;
}

/* Opens the plugin and finds its entry points. Returns 0 or -1. */
static int hr_plugin_open(hr_plugin *plugin, const hr_host_options *options)
{
    int mode = RTLD_NOW | (options->global ? RTLD_GLOBAL : RTLD_LOCAL);

    memset(plugin, 0, sizeof(*plugin));
    plugin->handle = dlopen(options->plugin_path, mode);
    if (plugin->handle == NULL) {
        fprintf(stderr, "hr_plugin_host: dlopen failed: %s\n", dlerror());
        return -1;
    }

    plugin->configure = (int (*)(const char *, const char *))hr_plugin_symbol(
        plugin, "hr_plugin_configure");
    plugin->run = (int (*)(void))hr_plugin_symbol(plugin, "hr_plugin_run");
    plugin->count = (long long (*)(const char *))hr_plugin_symbol(
        plugin, "hr_plugin_count");
    plugin->first_error = (const char *(*)(void))hr_plugin_symbol(
        plugin, "hr_plugin_first_error");
    plugin->last_error =
        (const char *(*)(void))hr_plugin_symbol(plugin, "hr_plugin_last_error");
    plugin->shutdown =
        (void (*)(void))hr_plugin_symbol(plugin, "hr_plugin_shutdown");

    if (plugin->configure == NULL || plugin->run == NULL ||
        plugin->count == NULL || plugin->first_error == NULL ||
        plugin->last_error == NULL || plugin->shutdown == NULL) {
        dlclose(plugin->handle);
        return -1;
    }
    return 0;
}

/* Passes every KEY=VALUE argument to the plugin. Returns 0 or -1. */
static int hr_plugin_apply_settings(hr_plugin *plugin,
                                    const hr_host_options *options)
{
    for (int i = 0; i < options->setting_count; i++) {
        char setting[512];
        char *value;

        snprintf(setting, sizeof(setting), "%s", options->settings[i]);
        value = strchr(setting, '=');
        if (value == NULL) {
            fprintf(stderr, "hr_plugin_host: setting longer than %zu bytes\n",
                    sizeof(setting) - 1);
            return -1;
        }
        *value++ = '\0';
        if (plugin->configure(setting, value) != 0)
            return -1;
    }
    return 0;
}

/* Prints the plugin's counts for this round and adds them to totals. */
static void hr_collect_results(hr_plugin *plugin, int round, hr_totals *totals)
{
    const char *first_error = plugin->first_error();
    const char *last_error = plugin->last_error();

    for (size_t i = 0; i < HR_COUNTS; i++) {
        long long value = plugin->count(hr_count_names[i]);

        printf("round%d.%s=%lld\n", round, hr_count_names[i], value);
        /* The counter keeps growing across rounds, so its last value is
         * the last round's, not a sum. */
        if (strcmp(hr_count_names[i], "last_incr_value") == 0)
            totals->counts[i] = value;
        else
            totals->counts[i] += value;
    }
    printf("round%d.first_error=%s\n", round, first_error);

    if (totals->first_error[0] == '\0')
        snprintf(totals->first_error, sizeof(totals->first_error), "%s",
                 first_error);
    if (last_error[0] != '\0')
        snprintf(totals->last_error, sizeof(totals->last_error), "%s",
                 last_error);
}

/*
 * Returns true when libhiredis is in the global scope. The shim does not
 * export redisReaderCreate, so only libhiredis can define it there. The
 * lookup goes through the program's handle because a successful
 * dlsym(RTLD_DEFAULT) would make the program depend on libhiredis and keep
 * dlclose() from unmapping it.
 */
static bool hr_hiredis_is_global(void)
{
    void *program = dlopen(NULL, RTLD_NOW);
    bool found;

    if (program == NULL)
        return false;
    found = dlsym(program, "redisReaderCreate") != NULL;
    dlclose(program);
    return found;
}

/* Prints where libhiredis is mapped and whether the global scope has it. */
static void hr_print_loaded(int round)
{
    hr_mapping mapping = hr_hiredis_mapping();

    if (mapping.found)
        printf("round%d.hiredis_base=%#lx\n", round,
               (unsigned long)mapping.start);
    else
        printf("round%d.hiredis_base=none\n", round);

    printf("round%d.hiredis_global=%d\n", round, hr_hiredis_is_global());
}

/*
 * Prints whether the dlclose() that ended the round unmapped libhiredis,
 * and reserves its old range when asked to. A failed reservation is
 * printed, and the next round runs anyway, wherever libhiredis lands.
 */
static void hr_after_close(int round, const hr_mapping *before,
                           const hr_host_options *options)
{
    hr_mapping after = hr_hiredis_mapping();
    int maps_lines = hr_hiredis_maps_lines();
    bool unmapped = !after.found && maps_lines == 0;

    printf("round%d.hiredis_maps_lines_after_close=%d\n", round, maps_lines);
    printf("round%d.hiredis_unmapped=%d\n", round, unmapped);
    if (!unmapped || !options->reserve_unmapped || !before->found ||
        round == options->rounds)
        return;

    if (hr_reserve(before) != 0)
        printf("round%d.hiredis_reserved=failed\n", round);
    else
        printf("round%d.hiredis_reserved=%#lx-%#lx\n", round,
               (unsigned long)before->start, (unsigned long)before->end);
}

/* Opens, configures, runs and closes the plugin once. Returns an exit
 * status of the host. */
static int hr_run_round(const hr_host_options *options, int round,
                        hr_totals *totals)
{
    hr_plugin plugin;
    hr_mapping mapping;
    int status = HR_EXIT_OK;

    if (hr_plugin_open(&plugin, options) != 0)
        return HR_EXIT_FAILURE;
    hr_print_loaded(round);
    mapping = hr_hiredis_mapping();

    if (hr_plugin_apply_settings(&plugin, options) != 0)
        status = HR_EXIT_FAILURE;
    else if (plugin.run() != 0)
        status = HR_EXIT_CONNECT;
    hr_collect_results(&plugin, round, totals);
    fflush(stdout);

    plugin.shutdown();
    if (dlclose(plugin.handle) != 0) {
        fprintf(stderr, "hr_plugin_host: dlclose failed: %s\n", dlerror());
        return HR_EXIT_FAILURE;
    }
    hr_after_close(round, &mapping, options);
    fflush(stdout);
    return status;
}

static void hr_print_totals(const hr_totals *totals, int rounds)
{
    printf("rounds=%d\n", rounds);
    for (size_t i = 0; i < HR_COUNTS; i++)
        printf("%s=%lld\n", hr_count_names[i], totals->counts[i]);
    printf("first_error=%s\n", totals->first_error);
    printf("last_error=%s\n", totals->last_error);
    fflush(stdout);
}

/* Parses the command line. Returns 0, 1 after --help, or -1. */
static int hr_parse_options(hr_host_options *options, int argc, char **argv)
{
    int i = 1;

    memset(options, 0, sizeof(*options));
    options->rounds = 1;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(hr_usage, stdout);
            return 1;
        } else if (strcmp(argv[i], "--global") == 0) {
            options->global = true;
        } else if (strcmp(argv[i], "--reserve-unmapped") == 0) {
            options->reserve_unmapped = true;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            char *end;
            long rounds = strtol(argv[++i], &end, 10);

            if (*end != '\0' || rounds < 1 || rounds > HR_ROUNDS_MAX) {
                fprintf(stderr,
                        "hr_plugin_host: --rounds %s: invalid value; "
                        "expected an integer from 1 to %d\n",
                        argv[i], HR_ROUNDS_MAX);
                return -1;
            }
            options->rounds = (int)rounds;
        } else {
            fprintf(stderr, "hr_plugin_host: invalid option %s; see --help\n",
                    argv[i]);
            return -1;
        }
    }

    if (i == argc) {
        fputs("hr_plugin_host: missing PLUGIN; see --help\n", stderr);
        return -1;
    }
    options->plugin_path = argv[i++];
    options->settings = argv + i;
    options->setting_count = argc - i;
    for (; i < argc; i++) {
        if (strchr(argv[i], '=') == NULL) {
            fprintf(stderr,
                    "hr_plugin_host: %s: invalid setting; expected "
                    "KEY=VALUE\n",
                    argv[i]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    hr_host_options options;
    hr_totals totals;
    int status = HR_EXIT_OK;
    int rc = hr_parse_options(&options, argc, argv);

    if (rc != 0)
        return rc > 0 ? HR_EXIT_OK : HR_EXIT_USAGE;

    /* Daemons ignore SIGPIPE, so that a write to a closed connection fails
     * with EPIPE: hiredis 0.14 writes without MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);

    /* The host links no libhiredis: only the plugin brings it in. */
    printf("hiredis_loaded_at_start=%d\n", hr_hiredis_mapping().found);

    memset(&totals, 0, sizeof(totals));
    for (int round = 1; round <= options.rounds && status == HR_EXIT_OK;
         round++)
        status = hr_run_round(&options, round, &totals);

    hr_print_totals(&totals, options.rounds);
    return status;
}
