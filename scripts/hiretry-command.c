/*
 * hiretry: the operator command for libhiretry.so.
 *
 *     hiretry run [OPTION]... [--] PROGRAM [ARGUMENT]...
 *     hiretry check [--format=human|env]
 *     hiretry explain TEXT
 *     hiretry explain --command COMMAND [ARGUMENT]...
 *
 * run does what scripts/hiretry does: it sets HIRETRY_* variables from its
 * options, appends the library to LD_PRELOAD and executes the program.
 * check and explain answer an operator's questions with the shim's own code:
 * hr_config_load reads the variables, hr_classify_reply and
 * hr_classify_transport classify failures, and hr_command_classify reads
 * the command table. Nothing here decides differently from the shim, except
 * where a NOTE names a shim rule that core does not export yet.
 *
 * Each subcommand has --help, which documents its exit status. Usage errors
 * exit with 2, and nothing goes to standard error on success.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hiretry/classify.h"
#include "hiretry/commands.h"
#include "hiretry/config.h"
#include "hiretry/errors.h"
#include "hiretry/policy.h"

#define HR_EXIT_OK 0
#define HR_EXIT_PROBLEM 1 /* check: an invalid or unknown variable */
#define HR_EXIT_USAGE 2
#define HR_EXIT_CANNOT_RUN 126
#define HR_EXIT_NOT_FOUND 127

/* The longest TEXT or COMMAND that explain accepts, in bytes. Error replies
 * and command names are short, and a bound keeps every message short. */
#define HR_INPUT_MAX 4096

/* The maximum number of arguments of one COMMAND that explain accepts. */
#define HR_COMMAND_ARGS_MAX 1024

/* Bytes of an environment variable's name shown in a message. */
#define HR_NAME_SHOWN_MAX 64

/* Width of the name and source columns of check's report: the name
   column fits the longest name, HIRETRY_SENTINEL_USERNAME. */
#define HR_NAME_COLUMN 25
#define HR_SOURCE_COLUMN 11

/* A misspelled variable within this edit distance of a known one gets a
 * suggestion: HIRETRY_RETRYS is 2 edits from HIRETRY_RETRIES. */
#define HR_SUGGEST_DISTANCE 2

#define HR_ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

/* ---- Output ---- */

/*
 * Writes len bytes of text to out with every control character, DEL, '"'
 * and '\\' escaped, so that a value shows on one line and a terminal never
 * interprets it. Bytes above 0x7f are written as they are when utf8 is true
 * (the caller has validated them) and escaped as \xHH otherwise.
 */
static void hr_write_escaped(FILE *out, const char *text, size_t len, bool utf8)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || (c > 0x7f && !utf8))
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/*
 * Formats a variable's name for a message into buf: escaped as
 * hr_write_escaped does, and cut at HR_NAME_SHOWN_MAX bytes. buf needs
 * HR_NAME_BUF_SIZE bytes.
 */
#define HR_NAME_BUF_SIZE (4 * HR_NAME_SHOWN_MAX + 4)

static void hr_format_name(const char *name, size_t len, char *buf)
{
    size_t shown = len > HR_NAME_SHOWN_MAX ? HR_NAME_SHOWN_MAX : len;
    size_t n = 0;

    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '"' || c == '\\')
            n += (size_t)sprintf(buf + n, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            n += (size_t)sprintf(buf + n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    strcpy(buf + n, shown < len ? "..." : "");
}

/* Prints "hiretry: MESSAGE" on standard error. */
static void hr_print_error(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

static void hr_print_error(const char *format, ...)
{
    va_list ap;

    fputs("hiretry: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Reports a usage error with a pointer to the help, and returns 2. */
static int hr_usage_error(const char *subcommand, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int hr_usage_error(const char *subcommand, const char *format, ...)
{
    va_list ap;

    fputs("hiretry: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hiretry%s%s --help' for more information.\n",
            subcommand ? " " : "", subcommand ? subcommand : "");
    return HR_EXIT_USAGE;
}

static bool hr_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* ---- Help ---- */

static const char hr_main_help[] =
    "Usage: hiretry COMMAND [ARGUMENT]...\n"
    "Run programs with libhiretry.so preloaded, check the HIRETRY_*\n"
    "variables, and explain what libhiretry.so does with a failure or a\n"
    "command.\n"
    "\n"
    "Commands:\n"
    "  run [OPTION]... [--] PROGRAM [ARGUMENT]...\n"
    "                 run PROGRAM with libhiretry.so preloaded\n"
    "  check          check the HIRETRY_* variables of the environment\n"
    "  explain TEXT   classify a server error reply or a transport failure\n"
    "                 and tell whether it is retried\n"
    "  explain --command COMMAND [ARGUMENT]...\n"
    "                 tell whether a command is sent again after a failure\n"
    "\n"
    "  -h, --help     print this help and exit\n"
    "\n"
    "'hiretry COMMAND --help' describes each command and its options.\n"
    "\n"
    "Exit status: that of COMMAND; 2 for a missing or unknown COMMAND.\n";

static const char hr_run_help[] =
    "Usage: hiretry run [OPTION]... [--] PROGRAM [ARGUMENT]...\n"
    "Run PROGRAM with libhiretry.so preloaded, so that its hiredis calls are\n"
    "retried across server restarts, failovers and network failures.\n"
    "\n"
    "Each option sets one environment variable and overrides a value of it\n"
    "that is already in the environment. Durations need a unit of us, ms or\n"
    "s, except 0. A value the shim rejects is logged to standard error, and\n"
    "the shim uses the default in its place; 'hiretry check' finds such\n"
    "values before a run.\n"
    "\n"
    "  --retries N          HIRETRY_RETRIES: retries of a failed command\n"
    "                       after its first attempt, -1 for no limit, 0 to\n"
    "                       turn the shim off (default 3)\n"
    "  --backoff NAME       HIRETRY_BACKOFF: delay between attempts, one of\n"
    "                       none, constant, exponential, full_jitter,\n"
    "                       equal_jitter or decorrelated_jitter\n"
    "                       (default equal_jitter)\n"
    "  --base DURATION      HIRETRY_BACKOFF_BASE: base delay of the backoff\n"
    "                       (default 8ms)\n"
    "  --cap DURATION       HIRETRY_BACKOFF_CAP: maximum delay between\n"
    "                       attempts (default 512ms)\n"
    "  --retry-on LIST      HIRETRY_RETRY_ON: comma-separated valkey-py\n"
    "                       error classes to retry. Name or +Name adds a\n"
    "                       class and its subclasses, -Name removes them,\n"
    "                       and a list that starts with + or - edits the\n"
    "                       default (default ConnectionError,TimeoutError,\n"
    "                       TryAgainError,ClusterDownError,ReadOnlyError,\n"
    "                       -AuthenticationError,-AuthorizationError)\n"
    "  --writes MODE        HIRETRY_WRITES: which commands that may already\n"
    "                       have run are sent again, one of safe (reads and\n"
    "                       writes that are safe to repeat), all or none\n"
    "                       (default safe)\n"
    "  --deadline DURATION  HIRETRY_DEADLINE: time budget of one command\n"
    "                       across all its attempts and delays, 0 for none\n"
    "                       (default 0)\n"
    "  --pipeline-max SIZE  HIRETRY_PIPELINE_MAX: bytes of pipelined\n"
    "                       commands kept per connection to send again after\n"
    "                       a reconnect, bare or with B, KiB, MiB or GiB, 0\n"
    "                       for none (default 1MiB)\n"
    "  --idle-check DURATION  HIRETRY_IDLE_CHECK: idle time after which the\n"
    "                       next command first checks the connection with\n"
    "                       one poll(2), 0 for every command (default 250us)\n"
    "  --log LEVEL          HIRETRY_LOG: the level of the log on standard\n"
    "                       error, one of off, error, warn, info or debug\n"
    "                       (default warn)\n"
    "  --disable            HIRETRY_DISABLE=1: load the shim but pass every\n"
    "                       call straight to hiredis\n"
    "  --library PATH       the shim to preload (default: libhiretry.so in\n"
    "                       the directory of this command, else in the\n"
    "                       hiretry directory of its installation's\n"
    "                       library directory, such as\n"
    "                       /usr/lib/<multiarch directory>/hiretry, else in\n"
    "                       /usr/local/lib, /usr/lib/<multiarch directory>\n"
    "                       or /usr/lib)\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "An option that takes a value accepts it as '--name VALUE' and as\n"
    "'--name=VALUE'. The first argument that is not an option, or the one\n"
    "after --, is PROGRAM.\n"
    "\n"
    "The shim is appended to LD_PRELOAD, after the libraries already listed\n"
    "there. The dynamic loader restricts LD_PRELOAD in setuid and setgid\n"
    "programs (see ld.so(8)), and static executables ignore it, so the shim\n"
    "does not reach those.\n"
    "\n"
    "Exit status: that of PROGRAM; 2 for an invalid option, a missing\n"
    "PROGRAM or a library that is not found; 126 when PROGRAM cannot be run,\n"
    "127 when it is not found.\n";

static const char hr_check_help[] =
    "Usage: hiretry check [--format=FORMAT]\n"
    "Check the HIRETRY_* variables of the environment as libhiretry.so reads\n"
    "them when a program starts, so that a deploy can stop on a bad value.\n"
    "\n"
    "The report has one line per variable: its name, where its value comes\n"
    "from, and the value in effect. The sources are:\n"
    "  default      the variable is unset\n"
    "  environment  the variable's value is used\n"
    "  invalid      the value is invalid, so the default is used; the next\n"
    "               line names what is accepted\n"
    "  unknown      a HIRETRY_ name, in any case, that libhiretry.so does not\n"
    "               read, such as a misspelled HIRETRY_RETRYS, which would\n"
    "               otherwise do nothing\n"
    "HIRETRY_RETRY_ON is followed by the classes it retries, and the last\n"
    "line sums up the result. The value of HIRETRY_SENTINEL_PASSWORD is\n"
    "never printed: the report shows \"set\", and --format=env a comment.\n"
    "\n"
    "  --format=human  print the report on standard output (the default)\n"
    "  --format=env    print NAME=VALUE lines with the values in effect,\n"
    "                  quoted for the shell, on standard output, and the\n"
    "                  messages on standard error\n"
    "  -h, --help      print this help and exit\n"
    "\n"
    "Like libhiretry.so, check reads the variables with secure_getenv(3),\n"
    "which returns nothing in a setuid or setgid process.\n"
    "\n"
    "Exit status: 0 when every variable is valid and known; 1 when a\n"
    "variable is invalid or unknown; 2 for invalid usage or when the output\n"
    "cannot be written.\n";

static const char hr_explain_help[] =
    "Usage: hiretry explain TEXT...\n"
    "  or:  hiretry explain --command COMMAND [ARGUMENT]...\n"
    "Explain what libhiretry.so does with a failure or a command, under the\n"
    "HIRETRY_* variables of the environment.\n"
    "\n"
    "With TEXT, a server error reply or a transport failure, print its\n"
    "valkey-py error class and the class's ancestors, whether the server may\n"
    "have run the command, whether the connection is dropped, whether\n"
    "HIRETRY_RETRY_ON retries it, and under which HIRETRY_WRITES modes a\n"
    "command that may have run is sent again. Several TEXT arguments are\n"
    "joined with spaces. TEXT is either:\n"
    "  - an error reply, as hiredis stores it in reply->str, with or without\n"
    "    the '-' that starts it in the protocol:\n"
    "      'LOADING Redis is loading the dataset in memory'\n"
    "      \"-READONLY You can't write against a read only replica.\"\n"
    "  - or one of these transport failures, in lower case:\n"
    "      eof           the server closed the connection (REDIS_ERR_EOF)\n"
    "      timeout       the socket timeout expired (REDIS_ERR_IO, EAGAIN)\n"
    "      reset         the connection was reset (REDIS_ERR_IO, ECONNRESET)\n"
    "      refused       the connection was refused (REDIS_ERR_IO,\n"
    "                    ECONNREFUSED)\n"
    "      protocol      the bytes received are not valid RESP\n"
    "                    (REDIS_ERR_PROTOCOL)\n"
    "      client-oom    the client ran out of memory (REDIS_ERR_OOM)\n"
    "      errno:NAME    a system call failed with this errno, by name or\n"
    "                    number: errno:EPIPE, errno:110 (REDIS_ERR_IO)\n"
    "      io:ERRSTR     REDIS_ERR_IO known only by hiredis's errstr:\n"
    "                    'io:Connection reset by peer'\n"
    "      other:ERRSTR  REDIS_ERR_OTHER with hiredis's errstr:\n"
    "                    \"other:Can't get addr: Name or service not known\"\n"
    "    An error reply with one of these texts needs its '-': -eof.\n"
    "\n"
    "With --command, print how the command table classifies COMMAND:\n"
    "read-only, a repeat-safe write, unsafe, or never repeated; its flags\n"
    "(session, transaction, pub/sub, blocking); the reason from the reviewed\n"
    "list; and under which HIRETRY_WRITES modes it is sent again after its\n"
    "reply was lost. A single COMMAND argument is split into words as\n"
    "redis-cli splits its input: at spaces, with \"...\" and '...' quoting,\n"
    "as in 'SET k \"a b\" NX'. Several arguments are taken one each, as in\n"
    "SET k 'a b' NX.\n"
    "\n"
    "TEXT and COMMAND must be valid UTF-8, not empty, and at most 4096\n"
    "bytes.\n"
    "\n"
    "  -c, --command  explain a command instead of a failure\n"
    "  -h, --help     print this help and exit\n"
    "  --             end the options; the next argument starts TEXT or\n"
    "                 COMMAND\n"
    "\n"
    "Exit status: 0 when explained; 2 for invalid usage or input, or when\n"
    "the output cannot be written.\n";

/* ---- run ---- */

/* An option of run and the variable it sets. */
typedef struct hr_run_option {
    const char *name;
    const char *variable;    /* NULL for --library */
    const char *fixed_value; /* the value set by an option that takes none */
} hr_run_option;

static const hr_run_option hr_run_options[] = {
    {"--retries", "HIRETRY_RETRIES", NULL},
    {"--backoff", "HIRETRY_BACKOFF", NULL},
    {"--base", "HIRETRY_BACKOFF_BASE", NULL},
    {"--cap", "HIRETRY_BACKOFF_CAP", NULL},
    {"--retry-on", "HIRETRY_RETRY_ON", NULL},
    {"--writes", "HIRETRY_WRITES", NULL},
    {"--deadline", "HIRETRY_DEADLINE", NULL},
    {"--pipeline-max", "HIRETRY_PIPELINE_MAX", NULL},
    {"--idle-check", "HIRETRY_IDLE_CHECK", NULL},
    {"--log", "HIRETRY_LOG", NULL},
    {"--disable", "HIRETRY_DISABLE", "1"},
    {"--library", NULL, NULL},
};

static const hr_run_option *hr_find_run_option(const char *name, size_t len)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(hr_run_options); i++) {
        const char *candidate = hr_run_options[i].name;

        if (strlen(candidate) == len && memcmp(candidate, name, len) == 0)
            return &hr_run_options[i];
    }
    return NULL;
}

/* Stores in dir the directory of this program's executable, or "". */
static void hr_self_dir(char *dir, size_t size)
{
    ssize_t len = readlink("/proc/self/exe", dir, size - 1);
    char *slash;

    if (len <= 0) {
        dir[0] = '\0';
        return;
    }
    dir[len] = '\0';
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
}

static bool hr_is_regular_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Copies candidate into path, which has size bytes, when it names a
 * regular file. */
static bool hr_take_library(const char *candidate, char *path, size_t size)
{
    int n;

    if (!hr_is_regular_file(candidate))
        return false;
    n = snprintf(path, size, "%s", candidate);
    return n >= 0 && (size_t)n < size;
}

/*
 * Stores in path the first libhiretry.so in the places scripts/hiretry
 * looks, except that the directory of this program replaces the
 * repository's build directory, where the build puts both. Returns 0, or
 * -1 when none exists.
 */
static int hr_find_library(char *path, size_t size)
{
    char dir[PATH_MAX];
    char beside[PATH_MAX + sizeof("/libhiretry.so")];
    char installed[PATH_MAX + 256];
    glob_t found;
    bool taken = false;

    hr_self_dir(dir, sizeof(dir));
    snprintf(beside, sizeof(beside), "%s/libhiretry.so", dir);
    if (dir[0] != '\0' && hr_take_library(beside, path, size))
        return 0;
#ifdef HIRETRY_LIBRARY_FROM_BIN
    /* Where `cmake --install` puts the library, relative to this program,
       so that an installation under any prefix or DESTDIR finds its own. */
    snprintf(installed, sizeof(installed), "%s/%s/libhiretry.so", dir,
             HIRETRY_LIBRARY_FROM_BIN);
    if (dir[0] != '\0' && hr_take_library(installed, path, size))
        return 0;
#endif
    if (hr_take_library("/usr/local/lib/libhiretry.so", path, size))
        return 0;

    if (glob("/usr/lib/*/libhiretry.so", 0, NULL, &found) == 0) {
        for (size_t i = 0; i < found.gl_pathc && !taken; i++)
            taken = hr_take_library(found.gl_pathv[i], path, size);
        globfree(&found);
        if (taken)
            return 0;
    }
    return hr_take_library("/usr/lib/libhiretry.so", path, size) ? 0 : -1;
}

/*
 * Makes path absolute against the working directory, as LD_PRELOAD applies
 * to every process that inherits it, whatever its working directory.
 * Symbolic links are kept, as scripts/hiretry keeps them. Returns 0 or -1.
 */
static int hr_absolute_path(const char *path, char *out, size_t size)
{
    char cwd[PATH_MAX];
    int n;

    if (path[0] == '/') {
        n = snprintf(out, size, "%s", path);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -1;
        n = snprintf(out, size, "%s/%s", cwd, path);
    }
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* Returns true when LD_PRELOAD, split at spaces and colons, lists library. */
static bool hr_preload_lists(const char *preload, const char *library)
{
    size_t len = strlen(library);
    const char *p = preload;

    while (*p != '\0') {
        size_t item = strcspn(p, " :");

        if (item == len && memcmp(p, library, len) == 0)
            return true;
        p += item;
        if (*p != '\0')
            p++;
    }
    return false;
}

/* Appends library to LD_PRELOAD unless it is already listed. */
static int hr_append_preload(const char *library)
{
    const char *preload = getenv("LD_PRELOAD");
    char *value;
    int rc;

    if (preload == NULL || preload[0] == '\0')
        return setenv("LD_PRELOAD", library, 1);
    if (hr_preload_lists(preload, library))
        return 0;

    if (asprintf(&value, "%s:%s", preload, library) < 0)
        return -1;
    rc = setenv("LD_PRELOAD", value, 1);
    free(value);
    return rc;
}

/* Finds, checks and preloads the library. Returns 0 or an exit status. */
static int hr_run_preload(const char *library)
{
    char found[PATH_MAX];
    char absolute[PATH_MAX];
    char dir[PATH_MAX];

    if (library == NULL || library[0] == '\0') {
        if (hr_find_library(found, sizeof(found)) != 0) {
            hr_self_dir(dir, sizeof(dir));
            return hr_usage_error(
                "run",
                "libhiretry.so not found in %s, in the hiretry directory "
                "of its installation's library directory, /usr/local/lib, "
                "/usr/lib/<multiarch directory> or /usr/lib. Build it with "
                "'cmake --build build' or give its path with --library.",
                dir[0] != '\0' ? dir : "the directory of this command");
        }
        library = found;
    }
    if (!hr_is_regular_file(library) || access(library, R_OK) != 0)
        return hr_usage_error("run", "library '%s' not found or not readable",
                              library);
    if (hr_absolute_path(library, absolute, sizeof(absolute)) != 0)
        return hr_usage_error("run", "library path '%s' is too long", library);

    /* The loader splits LD_PRELOAD at spaces and colons, so such a path
     * would preload pieces of it instead. */
    if (strpbrk(absolute, " \t\n\v\f\r:") != NULL)
        return hr_usage_error(
            "run",
            "library path '%s' contains a space or a colon, which "
            "LD_PRELOAD cannot express. Move the library to a path without "
            "them.",
            absolute);

    if (hr_append_preload(absolute) != 0) {
        hr_print_error("setting LD_PRELOAD failed: %s", strerror(errno));
        return HR_EXIT_USAGE;
    }
    return HR_EXIT_OK;
}

/* Executes the program; returns only on failure, with the exit status. */
static int hr_run_exec(char **argv)
{
    int error_number;

    execvp(argv[0], argv);
    error_number = errno;

    if (error_number == ENOENT || error_number == ENOTDIR) {
        if (strchr(argv[0], '/') != NULL)
            hr_print_error("program '%s' not found", argv[0]);
        else
            hr_print_error("program '%s' not found in PATH", argv[0]);
        return HR_EXIT_NOT_FOUND;
    }
    hr_print_error("cannot run program '%s': %s", argv[0],
                   strerror(error_number));
    return HR_EXIT_CANNOT_RUN;
}

/* Returns true for the options that take no value, so that --name=VALUE
 * is rejected for them, as scripts/hiretry rejects it. */
static bool hr_is_run_flag(const char *name, int len)
{
    static const char *const flags[] = {"--disable", "--help", "--"};

    for (size_t i = 0; i < HR_ARRAY_LEN(flags); i++) {
        if ((int)strlen(flags[i]) == len && strncmp(flags[i], name, len) == 0)
            return true;
    }
    return false;
}

/*
 * Applies the option at argv[*index] and advances *index past it and its
 * value. Returns -1 when the option was applied, or an exit status.
 */
static int hr_run_option_apply(int argc, char **argv, int *index,
                               const char **library)
{
    const char *arg = argv[(*index)++];
    const char *equals = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    int name_len = equals ? (int)(equals - arg) : (int)strlen(arg);
    const hr_run_option *option = hr_find_run_option(arg, (size_t)name_len);
    const char *value = equals ? equals + 1 : NULL;

    if (equals != NULL && hr_is_run_flag(arg, name_len))
        return hr_usage_error("run", "option '%.*s' takes no value", name_len,
                              arg);
    if (option == NULL)
        return hr_usage_error("run", "unknown option '%.*s'", name_len, arg);

    if (option->fixed_value != NULL) {
        value = option->fixed_value;
    } else if (value == NULL) {
        if (*index >= argc || strcmp(argv[*index], "--") == 0)
            return hr_usage_error("run", "option '%s' requires a value",
                                  option->name);
        value = argv[(*index)++];
    }

    if (option->variable == NULL) {
        *library = value;
        return -1;
    }
    if (setenv(option->variable, value, 1) != 0)
        return hr_usage_error("run", "setting %s failed: %s", option->variable,
                              strerror(errno));
    return -1;
}

/* argv[0] is "run". */
static int hr_run(int argc, char **argv)
{
    const char *library = NULL;
    int index = 1;
    int status;

    while (index < argc) {
        const char *arg = argv[index];

        if (strcmp(arg, "--") == 0) {
            index++;
            break;
        }
        if (hr_is_help(arg)) {
            fputs(hr_run_help, stdout);
            return HR_EXIT_OK;
        }
        /* The first word that is not an option starts the program. */
        if (arg[0] != '-')
            break;
        status = hr_run_option_apply(argc, argv, &index, &library);
        if (status >= 0)
            return status;
    }

    if (index >= argc)
        return hr_usage_error("run", "missing program to run");
    if (argv[index][0] == '\0')
        return hr_usage_error("run", "the program name is empty");

    status = hr_run_preload(library);
    if (status != HR_EXIT_OK)
        return status;
    return hr_run_exec(&argv[index]);
}

/* ---- The configuration, read as the shim reads it ---- */

/* libhiretry.so reads its variables with secure_getenv, and so does this
 * program. */
static const char *hr_secure_getenv(const char *name)
{
    return secure_getenv(name);
}

/* The messages of hr_config_load, one per invalid variable. */
typedef struct hr_messages {
    char (*text)[1024];
    size_t count;
    size_t max;
} hr_messages;

static void hr_collect_message(void *arg, const char *message)
{
    hr_messages *messages = arg;

    if (messages->count == messages->max)
        return;
    snprintf(messages->text[messages->count], sizeof(messages->text[0]), "%s",
             message);
    messages->count++;
}

/* The variables of the environment, read once. */
typedef struct hr_settings {
    hr_config config;
    const hr_config_var *vars;
    size_t var_count;
    hr_config_source *sources; /* one per row of vars */
    hr_messages messages;      /* in the order of vars, because
                                  hr_config_load reports each invalid
                                  variable as it reads it */
    int invalid;
} hr_settings;

/* Reads the variables. Returns 0, or -1 after reporting a lack of memory. */
static int hr_settings_load(hr_settings *settings)
{
    memset(settings, 0, sizeof(*settings));
    settings->vars = hr_config_vars(&settings->var_count);
    settings->sources =
        calloc(settings->var_count, sizeof(settings->sources[0]));
    settings->messages.text =
        calloc(settings->var_count, sizeof(settings->messages.text[0]));
    settings->messages.max = settings->var_count;
    if (settings->sources == NULL || settings->messages.text == NULL) {
        hr_print_error("out of memory");
        return -1;
    }

    settings->invalid =
        hr_config_load(&settings->config, hr_secure_getenv, hr_collect_message,
                       &settings->messages, settings->sources);
    return 0;
}

static void hr_settings_free(hr_settings *settings)
{
    free(settings->sources);
    free(settings->messages.text);
}

/* Returns the source of the variable called name. */
static hr_config_source hr_settings_source(const hr_settings *settings,
                                           const char *name)
{
    for (size_t i = 0; i < settings->var_count; i++) {
        if (strcmp(settings->vars[i].name, name) == 0)
            return settings->sources[i];
    }
    return HR_SOURCE_DEFAULT;
}

/* ---- check ---- */

static char hr_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Returns the Levenshtein distance of a and b ignoring ASCII case, or a
 * value above HR_SUGGEST_DISTANCE for names too long to compare. */
static size_t hr_edit_distance(const char *a, size_t a_len, const char *b)
{
    size_t b_len = strlen(b);
    size_t row[HR_NAME_SHOWN_MAX + 1];

    if (a_len > HR_NAME_SHOWN_MAX || b_len > HR_NAME_SHOWN_MAX)
        return HR_SUGGEST_DISTANCE + 1;
    for (size_t j = 0; j <= b_len; j++)
        row[j] = j;

    for (size_t i = 1; i <= a_len; i++) {
        size_t diagonal = row[0];

        row[0] = i;
        for (size_t j = 1; j <= b_len; j++) {
            size_t above = row[j];
            bool same = hr_ascii_lower(a[i - 1]) == hr_ascii_lower(b[j - 1]);
            size_t best = diagonal + (same ? 0 : 1);

            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[b_len];
}

/* Returns the known name closest to an unknown one, or NULL. */
static const char *hr_suggest_name(const hr_settings *settings,
                                   const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_distance = HR_SUGGEST_DISTANCE + 1;

    for (size_t i = 0; i < settings->var_count; i++) {
        const char *known = settings->vars[i].name;
        size_t distance = hr_edit_distance(name, len, known);

        if (distance < best_distance) {
            best = known;
            best_distance = distance;
        }
    }
    return best;
}

static bool hr_is_known_name(const hr_settings *settings, const char *name,
                             size_t len)
{
    for (size_t i = 0; i < settings->var_count; i++) {
        const char *known = settings->vars[i].name;

        if (strlen(known) == len && memcmp(known, name, len) == 0)
            return true;
    }
    return false;
}

/* An environment variable with a HIRETRY_ name that the shim does not read. */
typedef struct hr_unknown {
    char name[HR_NAME_BUF_SIZE]; /* escaped and cut */
    char message[HR_NAME_BUF_SIZE + 128];
} hr_unknown;

static void hr_unknown_init(const hr_settings *settings, const char *name,
                            size_t len, hr_unknown *unknown)
{
    const char *suggestion = hr_suggest_name(settings, name, len);

    hr_format_name(name, len, unknown->name);
    if (suggestion != NULL && strlen(suggestion) == len &&
        strncasecmp(suggestion, name, len) == 0)
        snprintf(unknown->message, sizeof(unknown->message),
                 "unknown variable %s is ignored; names are case-sensitive, "
                 "so write %s",
                 unknown->name, suggestion);
    else if (suggestion != NULL)
        snprintf(unknown->message, sizeof(unknown->message),
                 "unknown variable %s is ignored; did you mean %s?",
                 unknown->name, suggestion);
    else
        snprintf(unknown->message, sizeof(unknown->message),
                 "unknown variable %s is ignored; the README lists the "
                 "HIRETRY_ variables",
                 unknown->name);
}

/*
 * Finds the next variable of the environment, from *cursor on, whose name
 * starts with HIRETRY_ in any case and that the shim does not read. A
 * setuid or setgid process ignores every variable, as the shim does.
 * Returns false when there is none.
 */
static bool hr_next_unknown(const hr_settings *settings, char ***cursor,
                            hr_unknown *unknown)
{
    if (*cursor == NULL || getauxval(AT_SECURE) != 0)
        return false;

    for (; **cursor != NULL; (*cursor)++) {
        const char *entry = **cursor;
        const char *equals = strchr(entry, '=');
        size_t len = equals ? (size_t)(equals - entry) : strlen(entry);

        if (strncasecmp(entry, "HIRETRY_", 8) != 0 ||
            hr_is_known_name(settings, entry, len))
            continue;
        hr_unknown_init(settings, entry, len, unknown);
        (*cursor)++;
        return true;
    }
    return false;
}

/* Returns the text in effect for row i: its value, or the default. */
static const char *hr_effective_text(const hr_settings *settings, size_t i)
{
    const char *value = NULL;

    if (settings->sources[i] == HR_SOURCE_ENV)
        value = secure_getenv(settings->vars[i].name);
    return value != NULL ? value : settings->vars[i].default_value;
}

static const char *hr_source_name(hr_config_source source)
{
    switch (source) {
    case HR_SOURCE_DEFAULT:
        return "default";
    case HR_SOURCE_ENV:
        return "environment";
    case HR_SOURCE_INVALID:
        return "invalid";
    }
    return "unknown";
}

/* Prints the classes of a set in the table's order, or "none". */
static void hr_print_class_set(hr_class_set set)
{
    bool first = true;

    for (int cls = 0; cls < HR_CLASS_COUNT; cls++) {
        if (!hr_class_set_contains(set, (hr_class)cls))
            continue;
        printf("%s%s", first ? "" : ", ", hr_class_name((hr_class)cls));
        first = false;
    }
    puts(first ? "none" : "");
}

/*
 * Prints a note when the directory of a file setting is missing or not
 * writable by this user. It is only a note: the program the settings are
 * for may run as another user, or create the directory first.
 */
static void hr_print_path_note(const char *name, const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : (size_t)(slash - path);
    bool is_syslog =
        strncmp(path, "syslog", 6) == 0 && (path[6] == '\0' || path[6] == ':');

    if (path[0] == '\0' || is_syslog)
        return;
    if (slash == path)
        len = 1; /* a file in / */
    if (len >= sizeof(dir))
        return;
    memcpy(dir, slash == NULL ? "." : path, len);
    dir[len] = '\0';
    if (access(dir, W_OK | X_OK) == 0)
        return;
    printf("    note: %s cannot be written by this user: directory %s: %s\n",
           name, dir, strerror(errno));
}

static void hr_print_setting(const hr_settings *settings, size_t i,
                             size_t *message)
{
    const char *name = settings->vars[i].name;
    const char *text = hr_effective_text(settings, i);

    printf("%-*s  %-*s  ", HR_NAME_COLUMN, name, HR_SOURCE_COLUMN,
           hr_source_name(settings->sources[i]));
    /* A credential shows only whether it is set. */
    if (settings->vars[i].secret && text[0] != '\0')
        fputs("set", stdout);
    else if (text[0] == '\0')
        fputs("(empty)", stdout);
    else
        hr_write_escaped(stdout, text, strlen(text), false);
    putchar('\n');

    if (settings->sources[i] == HR_SOURCE_INVALID &&
        *message < settings->messages.count)
        printf("    %s\n", settings->messages.text[(*message)++]);
    if (strcmp(name, "HIRETRY_RETRY_ON") == 0) {
        fputs("    retried classes: ", stdout);
        hr_print_class_set(settings->config.policy.retry_on);
    }
    if (settings->sources[i] == HR_SOURCE_ENV &&
        (strcmp(name, "HIRETRY_LOG_FILE") == 0 ||
         strcmp(name, "HIRETRY_STATS_FILE") == 0))
        hr_print_path_note(name, text);
}

/* Prints ", N noun" or " N noun" with the noun in the plural as needed. */
static void hr_print_count(bool first, int count, const char *noun)
{
    printf("%s%d %s%s", first ? " " : ", ", count, noun, count == 1 ? "" : "s");
}

/* Prints the report and returns the number of unknown variables. */
static int hr_check_print_human(const hr_settings *settings)
{
    char **cursor = environ;
    hr_unknown unknown;
    size_t message = 0;
    int unknown_count = 0;

    for (size_t i = 0; i < settings->var_count; i++)
        hr_print_setting(settings, i, &message);
    while (hr_next_unknown(settings, &cursor, &unknown)) {
        printf("%-*s  unknown\n    %s\n", HR_NAME_COLUMN, unknown.name,
               unknown.message);
        unknown_count++;
    }

    if (settings->invalid == 0 && unknown_count == 0) {
        puts("result: valid");
        return 0;
    }
    fputs("result:", stdout);
    if (settings->invalid > 0)
        hr_print_count(true, settings->invalid, "invalid value");
    if (unknown_count > 0)
        hr_print_count(settings->invalid == 0, unknown_count,
                       "unknown variable");
    putchar('\n');
    return unknown_count;
}

/* Writes text as one shell word: bare when only safe bytes, else quoted. */
static void hr_write_shell_word(const char *text)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_.,:+-/@%=";

    if (text[0] != '\0' && text[strspn(text, safe)] == '\0') {
        fputs(text, stdout);
        return;
    }
    putchar('\'');
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    putchar('\'');
}

/* Prints NAME=VALUE lines, the messages on standard error, and returns the
 * number of unknown variables. */
static int hr_check_print_env(const hr_settings *settings)
{
    char **cursor = environ;
    hr_unknown unknown;
    int unknown_count = 0;

    for (size_t i = 0; i < settings->var_count; i++) {
        const char *text = hr_effective_text(settings, i);

        /* A comment, so that the output stays valid shell. */
        if (settings->vars[i].secret && text[0] != '\0') {
            printf("# %s is set and not shown\n", settings->vars[i].name);
            continue;
        }
        printf("%s=", settings->vars[i].name);
        hr_write_shell_word(text);
        putchar('\n');
    }
    for (size_t i = 0; i < settings->messages.count; i++)
        hr_print_error("%s", settings->messages.text[i]);
    while (hr_next_unknown(settings, &cursor, &unknown)) {
        hr_print_error("%s", unknown.message);
        unknown_count++;
    }
    return unknown_count;
}

/* argv[0] is "check". */
static int hr_check(int argc, char **argv)
{
    bool env_format = false;
    hr_settings settings;
    int unknown_count;

    for (int i = 1; i < argc; i++) {
        if (hr_is_help(argv[i])) {
            fputs(hr_check_help, stdout);
            return HR_EXIT_OK;
        }
        if (strcmp(argv[i], "--format=human") == 0)
            env_format = false;
        else if (strcmp(argv[i], "--format=env") == 0)
            env_format = true;
        else if (strncmp(argv[i], "--format=", 9) == 0)
            return hr_usage_error("check",
                                  "invalid format '%s': expected human or env",
                                  argv[i] + 9);
        else if (argv[i][0] == '-')
            return hr_usage_error("check", "unknown option '%s'", argv[i]);
        else
            return hr_usage_error("check", "unexpected argument '%s'", argv[i]);
    }

    if (hr_settings_load(&settings) != 0)
        return HR_EXIT_USAGE;
    if (env_format)
        unknown_count = hr_check_print_env(&settings);
    else
        unknown_count = hr_check_print_human(&settings);
    hr_settings_free(&settings);

    if (settings.invalid > 0 || unknown_count > 0)
        return HR_EXIT_PROBLEM;
    return HR_EXIT_OK;
}

/* ---- explain: input ---- */

/*
 * Returns the offset of the first byte that is not part of valid UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
 * len when the whole text is valid.
 */
static size_t hr_utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned char low = 0x80;
        unsigned char high = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3;
        else
            return i;

        /* The second byte's range excludes overlong forms, surrogates and
         * code points above U+10FFFF. */
        if (c == 0xe0)
            low = 0xa0;
        else if (c == 0xed)
            high = 0x9f;
        else if (c == 0xf0)
            low = 0x90;
        else if (c == 0xf4)
            high = 0x8f;

        if (len - i <= need || s[i + 1] < low || s[i + 1] > high)
            return i;
        for (size_t k = 2; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return i;
        }
        i += need + 1;
    }
    return len;
}

/*
 * Joins the operands with one space into buf, which has HR_INPUT_MAX + 1
 * bytes, after checking their size and encoding. what names the input in
 * messages. Returns the length, or -1 after reporting the problem.
 */
static long hr_join_input(int count, char **operands, const char *what,
                          char *buf)
{
    size_t total = 0;

    for (int i = 0; i < count; i++) {
        size_t len = strlen(operands[i]);
        size_t bad = hr_utf8_invalid_at(operands[i], len);

        if (bad < len) {
            hr_print_error("invalid %s: byte %zu of argument %d is not "
                           "valid UTF-8",
                           what, bad + 1, i + 1);
            return -1;
        }
        total += len + (i > 0);
        if (total > HR_INPUT_MAX) {
            hr_print_error("invalid %s: longer than the maximum of %d bytes",
                           what, HR_INPUT_MAX);
            return -1;
        }
    }

    total = 0;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(operands[i]);

        if (i > 0)
            buf[total++] = ' ';
        memcpy(buf + total, operands[i], len);
        total += len;
    }
    buf[total] = '\0';
    return (long)total;
}

/* ---- explain: the configuration in effect ---- */

/* The settings that decide a retry, read as the shim reads them. */
typedef struct hr_explain_config {
    hr_config config;
    hr_config_source retry_on_source;
} hr_explain_config;

static int hr_explain_config_load(hr_explain_config *explain)
{
    hr_settings settings;

    if (hr_settings_load(&settings) != 0)
        return -1;
    explain->config = settings.config;
    explain->retry_on_source =
        hr_settings_source(&settings, "HIRETRY_RETRY_ON");
    /* The output is for the values in effect, so an invalid variable,
       replaced by its default as the library does, is named first. */
    for (size_t i = 0; i < settings.messages.count; i++)
        printf("setting: %s\n", settings.messages.text[i]);
    hr_settings_free(&settings);
    return 0;
}

static const char *hr_source_label(hr_config_source source)
{
    switch (source) {
    case HR_SOURCE_DEFAULT:
        return "default";
    case HR_SOURCE_ENV:
        return "environment";
    case HR_SOURCE_INVALID:
        return "invalid, so the default";
    }
    return "default";
}

static const char *hr_writes_name(hr_writes writes)
{
    switch (writes) {
    case HR_WRITES_SAFE:
        return "safe";
    case HR_WRITES_ALL:
        return "all";
    case HR_WRITES_NONE:
        return "none";
    }
    return "safe";
}

static const hr_writes hr_all_writes[] = {HR_WRITES_SAFE, HR_WRITES_ALL,
                                          HR_WRITES_NONE};

/* Prints "  MODE (current): " or "  MODE: " for one writes mode. */
static void hr_print_mode(const hr_explain_config *explain, hr_writes mode)
{
    bool current = explain->config.policy.writes == mode;

    printf("  %s%s: ", hr_writes_name(mode), current ? " (current)" : "");
}

/* ---- explain TEXT ---- */

/* A failure to explain: how it was given and how core classified it. */
typedef struct hr_explained {
    hr_failure failure;
    bool is_reply;
} hr_explained;

/* Stores in *out the errno of a name ("EPIPE") or number ("32"). Returns 0,
 * or -1 when glibc has no such errno. */
static int hr_errno_from_text(const char *text, int *out)
{
    char *end;
    long number;

    if (text[0] >= '0' && text[0] <= '9') {
        errno = 0;
        number = strtol(text, &end, 10);
        if (errno != 0 || *end != '\0' || number <= 0 || number > 4095 ||
            strerrorname_np((int)number) == NULL)
            return -1;
        *out = (int)number;
        return 0;
    }
    for (int n = 1; n < 4096; n++) {
        const char *name = strerrorname_np(n);

        if (name != NULL && strcmp(name, text) == 0) {
            *out = n;
            return 0;
        }
    }
    return -1;
}

/* A transport failure keyword and the hiredis error it stands for. */
typedef struct hr_transport_word {
    const char *word;
    hr_transport_error kind;
    int error_number;
    const char *errstr; /* as hiredis 0.14 sets it */
} hr_transport_word;

static const hr_transport_word hr_transport_words[] = {
    {"eof", HR_TRANSPORT_EOF, 0, "Server closed the connection"},
    {"timeout", HR_TRANSPORT_IO, EAGAIN, "Resource temporarily unavailable"},
    {"reset", HR_TRANSPORT_IO, ECONNRESET, "Connection reset by peer"},
    {"refused", HR_TRANSPORT_IO, ECONNREFUSED, "Connection refused"},
    {"protocol", HR_TRANSPORT_PROTOCOL, 0, "Protocol error"},
    {"client-oom", HR_TRANSPORT_OOM, 0, "Out of memory"},
};

static const char *hr_transport_kind_name(hr_transport_error kind)
{
    switch (kind) {
    case HR_TRANSPORT_IO:
        return "REDIS_ERR_IO";
    case HR_TRANSPORT_OTHER:
        return "REDIS_ERR_OTHER";
    case HR_TRANSPORT_EOF:
        return "REDIS_ERR_EOF";
    case HR_TRANSPORT_PROTOCOL:
        return "REDIS_ERR_PROTOCOL";
    case HR_TRANSPORT_OOM:
        return "REDIS_ERR_OOM";
    case HR_TRANSPORT_TIMEOUT:
        return "REDIS_ERR_TIMEOUT";
    }
    return "REDIS_ERR_OTHER";
}

/* Prints the input line of a transport failure and classifies it. */
static hr_failure hr_transport_explain(hr_transport_error kind,
                                       int error_number, const char *errstr)
{
    printf("input: transport failure %s", hr_transport_kind_name(kind));
    if (error_number != 0)
        printf(", errno %s", strerrorname_np(error_number));
    fputs(", errstr \"", stdout);
    hr_write_escaped(stdout, errstr, strlen(errstr), true);
    puts("\"");
    return hr_classify_transport(kind, error_number, errstr, strlen(errstr));
}

/*
 * Classifies text as a transport failure when it is one of the forms in
 * --help, and prints the input line. Returns 1 when it is one, 0 when text
 * is an error reply, and -1 after reporting invalid input.
 */
static int hr_classify_transport_text(const char *text, hr_failure *failure)
{
    int error_number;

    for (size_t i = 0; i < HR_ARRAY_LEN(hr_transport_words); i++) {
        const hr_transport_word *word = &hr_transport_words[i];

        if (strcmp(text, word->word) == 0) {
            *failure = hr_transport_explain(word->kind, word->error_number,
                                            word->errstr);
            return 1;
        }
    }

    if (strncmp(text, "errno:", 6) == 0) {
        if (hr_errno_from_text(text + 6, &error_number) != 0) {
            hr_print_error("invalid TEXT: unknown errno '%s'; give a name "
                           "such as ECONNRESET or the number of one, such "
                           "as 104",
                           text + 6);
            return -1;
        }
        *failure = hr_transport_explain(HR_TRANSPORT_IO, error_number,
                                        strerror(error_number));
        return 1;
    }

    if (strncmp(text, "io:", 3) == 0 || strncmp(text, "other:", 6) == 0) {
        bool io = text[0] == 'i';
        const char *errstr = text + (io ? 3 : 6);

        if (errstr[0] == '\0') {
            hr_print_error("invalid TEXT: '%s' needs hiredis's errstr after "
                           "the colon",
                           text);
            return -1;
        }
        *failure = hr_transport_explain(
            io ? HR_TRANSPORT_IO : HR_TRANSPORT_OTHER, 0, errstr);
        return 1;
    }
    return 0;
}

/*
 * Removes the protocol's leading '-' and a trailing CRLF or LF, which a
 * reply copied from a packet capture or redis-cli's raw output has.
 */
static void hr_trim_reply(const char **text, size_t *len)
{
    if (*len > 0 && (*text)[0] == '-') {
        (*text)++;
        (*len)--;
    }
    if (*len > 0 && (*text)[*len - 1] == '\n')
        (*len)--;
    if (*len > 0 && (*text)[*len - 1] == '\r')
        (*len)--;
}

/*
 * Stores in ancestors every class that cls is-a, nearest first (a
 * breadth-first walk of the parents), and returns their number.
 */
static size_t hr_class_ancestors(hr_class cls, hr_class *ancestors, size_t max)
{
    size_t count = 0;
    size_t next = 0;
    hr_class current = cls;

    for (;;) {
        for (int index = 0; index < 2; index++) {
            hr_class parent = hr_class_parent(current, index);
            bool seen = false;

            for (size_t k = 0; k < count; k++)
                seen = seen || ancestors[k] == parent;
            if (parent != HR_CLASS_NONE && !seen && count < max)
                ancestors[count++] = parent;
        }
        if (next == count)
            return count;
        current = ancestors[next++];
    }
}

static void hr_print_class_lines(hr_class cls)
{
    hr_class ancestors[HR_CLASS_COUNT];
    size_t count = hr_class_ancestors(cls, ancestors, HR_CLASS_COUNT);

    printf("class: %s\n", hr_class_name(cls));
    fputs("ancestors: ", stdout);
    for (size_t i = 0; i < count; i++)
        printf("%s%s", i > 0 ? ", " : "", hr_class_name(ancestors[i]));
    puts(count == 0 ? "none" : "");
}

/*
 * Prints whether the failure is retried, checking in the order of the
 * shim: a disabled shim, a permanent failure, HIRETRY_RETRY_ON, and
 * HIRETRY_RETRIES=0. Returns true when it is retried.
 */
static bool hr_print_retried(const hr_explain_config *explain,
                             const hr_failure *failure)
{
    const hr_policy *policy = &explain->config.policy;
    const char *source = hr_source_label(explain->retry_on_source);
    const char *name = hr_class_name(failure->cls);

    fputs("retried: ", stdout);
    if (explain->config.disable) {
        puts("no, because HIRETRY_DISABLE turns libhiretry.so off");
        return false;
    }
    if (failure->permanent) {
        puts("no, because no retry can fix a caller error");
        return false;
    }
    if (!hr_class_set_contains(policy->retry_on, failure->cls)) {
        printf("no, because HIRETRY_RETRY_ON (%s) does not contain %s\n",
               source, name);
        return false;
    }
    if (policy->retries == 0) {
        puts("no, because HIRETRY_RETRIES=0 allows no retry");
        return false;
    }
    printf("yes, because HIRETRY_RETRY_ON (%s) contains %s\n", source, name);
    return true;
}

/* Prints, per writes mode, which commands that may have run are sent
 * again after this failure. */
static void hr_print_modes_for_any_command(const hr_explain_config *explain)
{
    static const char *const commands[] = {
        [HR_WRITES_SAFE] = "read-only commands and repeat-safe writes "
                           "(explain --command tells which)",
        [HR_WRITES_ALL] = "every command but blocking writes, transaction "
                          "and pub/sub commands, and the never-repeated ones",
        [HR_WRITES_NONE] = "no command",
    };

    for (size_t i = 0; i < HR_ARRAY_LEN(hr_all_writes); i++) {
        hr_print_mode(explain, hr_all_writes[i]);
        puts(commands[hr_all_writes[i]]);
    }
}

static void hr_print_failure_repeat(const hr_explain_config *explain,
                                    const hr_explained *explained, bool retried)
{
    const hr_failure *failure = &explained->failure;

    if (!retried) {
        puts("sent again: no, the failure reaches the program");
        return;
    }
    if (explained->is_reply && failure->not_executed) {
        puts("sent again: yes, under every HIRETRY_WRITES mode, because the "
             "command did not run; never-repeated commands (QUIT, "
             "SHUTDOWN, ...) aside");
        return;
    }
    if (explained->is_reply) {
        puts("sent again if it may have run:");
        hr_print_modes_for_any_command(explain);
        return;
    }
    puts("sent again if it cannot have run: yes, under every HIRETRY_WRITES "
         "mode; never-repeated commands (QUIT, SHUTDOWN, ...) aside");
    puts("sent again if it may have run:");
    hr_print_modes_for_any_command(explain);
}

static void hr_print_failure(const hr_explain_config *explain,
                             const hr_explained *explained)
{
    const hr_failure *failure = &explained->failure;
    bool retried;

    hr_print_class_lines(failure->cls);
    if (!explained->is_reply)
        puts("may have run: it depends on when the failure happened: no "
             "when connecting failed or the command was not all written, "
             "yes when its reply was lost");
    else if (failure->not_executed)
        puts("may have run: no, the server rejected the command without "
             "running it (not_executed)");
    else
        puts("may have run: yes");
    puts(failure->drop_connection
             ? "connection: dropped; the next attempt uses a new connection"
             : "connection: kept; the next attempt uses the same connection");
    puts(failure->permanent ? "permanent: yes, a caller error"
                            : "permanent: no");

    retried = hr_print_retried(explain, failure);
    hr_print_failure_repeat(explain, explained, retried);

    if (retried && explained->is_reply && failure->not_executed)
        puts("note: after EVAL, EVALSHA or FCALL this reply may come from a "
             "script that has already written, so the script counts as "
             "may have run");
    if (!explained->is_reply && failure->cls == HR_CLASS_TIMEOUT_ERROR)
        puts("note: a socket timeout during a blocking command (BLPOP, "
             "XREAD BLOCK, ...) reaches the program with no retry");
}

static int hr_explain_text(const hr_explain_config *explain, const char *text,
                           size_t len)
{
    hr_explained explained = {{HR_CLASS_NONE, false, false, false}, false};
    int transport = hr_classify_transport_text(text, &explained.failure);

    if (transport < 0)
        return HR_EXIT_USAGE;
    if (transport == 0) {
        hr_trim_reply(&text, &len);
        if (len == 0) {
            hr_print_error("invalid TEXT: the error reply is empty");
            return HR_EXIT_USAGE;
        }
        explained.is_reply = true;
        explained.failure = hr_classify_reply(text, len);
        fputs("input: error reply \"", stdout);
        hr_write_escaped(stdout, text, len, true);
        puts("\"");
    }
    hr_print_failure(explain, &explained);
    return HR_EXIT_OK;
}

/* ---- explain --command ---- */

/*
 * Returns true when the shim sends the command again after a failure that
 * may have let it run, under writes. The shim's retry loop narrows the
 * mode per command. Never-repeated commands pass through, and transaction
 * and pub/sub commands are never sent again. Under all, a blocking command
 * is sent again only when it reads, since a pop may have taken an element.
 * NOTE: a copy of the shim's hr_command_writes, which core does not export.
 */
static bool hr_sent_again_if_run(const hr_command_info *info, hr_writes writes)
{
    if (info->flags & HR_COMMAND_NEVER_REPEAT)
        return false;
    if (info->flags & (HR_COMMAND_TRANSACTION | HR_COMMAND_PUBSUB))
        writes = HR_WRITES_NONE;
    else if ((info->flags & HR_COMMAND_BLOCKING) && writes == HR_WRITES_ALL)
        writes = HR_WRITES_SAFE;
    return hr_repeat_allowed(writes, info->safety, true);
}

static const char *hr_safety_text(const hr_command_info *info)
{
    if (info->flags & HR_COMMAND_NEVER_REPEAT)
        return "never repeated";
    switch (info->safety) {
    case HR_REPEAT_READONLY:
        return "read-only";
    case HR_REPEAT_SAFE:
        return "repeat-safe write";
    case HR_REPEAT_UNSAFE:
        break;
    }
    return "unsafe";
}

static void hr_print_flags(unsigned flags)
{
    static const struct {
        unsigned flag;
        const char *name;
    } names[] = {
        {HR_COMMAND_SESSION, "session"},
        {HR_COMMAND_TRANSACTION, "transaction"},
        {HR_COMMAND_PUBSUB, "pub/sub"},
        {HR_COMMAND_BLOCKING, "blocking"},
    };
    bool first = true;

    fputs("flags: ", stdout);
    for (size_t i = 0; i < HR_ARRAY_LEN(names); i++) {
        if (!(flags & names[i].flag))
            continue;
        printf("%s%s", first ? "" : ", ", names[i].name);
        first = false;
    }
    puts(first ? "none" : "");
}

static bool hr_slice_is(const hr_slice *arg, const char *word)
{
    return arg->len == strlen(word) &&
           strncasecmp(arg->ptr, word, arg->len) == 0;
}

/* Returns true for EVAL, EVALSHA, FCALL and their _RO forms, whose error
 * reply never proves they did not run, as in the shim. */
static bool hr_is_script(const hr_slice *name)
{
    return (name->len >= 4 && strncasecmp(name->ptr, "eval", 4) == 0) ||
           (name->len >= 5 && strncasecmp(name->ptr, "fcall", 5) == 0);
}

/* EXEC that may have run is sent again only when its whole block may be. */
static void hr_print_exec_modes(const hr_explain_config *explain)
{
    static const char *const rules[] = {
        [HR_WRITES_SAFE] = "when every queued command is read-only or a "
                           "repeat-safe write",
        [HR_WRITES_ALL] = "when no queued command is blocking, pub/sub, a "
                          "transaction command or never repeated",
        [HR_WRITES_NONE] = "no",
    };

    puts("sent again if it may have run: only when no key is watched and "
         "every queued command may be sent again");
    for (size_t i = 0; i < HR_ARRAY_LEN(hr_all_writes); i++) {
        hr_print_mode(explain, hr_all_writes[i]);
        puts(rules[hr_all_writes[i]]);
    }
}

static void hr_print_command_repeat(const hr_explain_config *explain,
                                    const hr_command_info *info,
                                    const hr_slice *name)
{
    if (info->flags & HR_COMMAND_NEVER_REPEAT) {
        puts("sent again if it cannot have run: no, it is sent once, as "
             "plain hiredis sends it, with no retry and no reconnect");
    } else {
        puts("sent again if it cannot have run: yes, under every "
             "HIRETRY_WRITES mode, when HIRETRY_RETRY_ON retries the "
             "failure");
    }

    if (hr_slice_is(name, "exec")) {
        hr_print_exec_modes(explain);
        return;
    }
    puts("sent again if it may have run, outside MULTI:");
    for (size_t i = 0; i < HR_ARRAY_LEN(hr_all_writes); i++) {
        hr_print_mode(explain, hr_all_writes[i]);
        puts(hr_sent_again_if_run(info, hr_all_writes[i]) ? "yes" : "no");
    }
}

static void hr_print_command_notes(const hr_command_info *info,
                                   const hr_slice *name)
{
    if (hr_is_script(name))
        puts("note: a script may write before it replies LOADING, READONLY "
             "or another error, so such a reply counts as may have run");
    if (info->flags & HR_COMMAND_BLOCKING)
        puts("note: a socket timeout shorter than the blocking time reaches "
             "the program with no retry");
    if (info->flags & HR_COMMAND_SESSION)
        puts("note: after a reconnect, libhiretry.so sends the session "
             "again (AUTH, HELLO, SELECT, ...) before the next command");
    if (info->flags & HR_COMMAND_PUBSUB)
        puts("note: after a reconnect, libhiretry.so subscribes again to "
             "every channel the program still has");
    if (info->flags & HR_COMMAND_TRANSACTION)
        puts("note: a broken MULTI block is opened again on a new "
             "connection, unless keys are watched");
}

static int hr_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies one escape sequence of a "..." word from *in to *out. */
static void hr_unescape(const char **in, char **out)
{
    static const char from[] = "nrtba";
    static const char to[] = "\n\r\t\b\a";
    const char *p = *in + 1;
    const char *mapped = strchr(from, *p);
    int high = p[0] == 'x' ? hr_hex_digit(p[1]) : -1;
    int low = high >= 0 ? hr_hex_digit(p[2]) : -1;

    if (low >= 0) {
        *(*out)++ = (char)(high * 16 + low);
        *in = p + 3;
        return;
    }
    *(*out)++ = mapped != NULL ? to[mapped - from] : *p;
    *in = p + 1;
}

/*
 * Copies the quoted part of a word that starts at *in, without its quotes,
 * to *out. Returns 0, or -1 when the quote is not closed or the word goes
 * on after it.
 */
static int hr_copy_quoted(const char **in, char **out)
{
    char quote = **in;
    const char *p = *in + 1;

    while (*p != quote) {
        if (*p == '\0')
            return -1;
        if (quote == '"' && p[0] == '\\' && p[1] != '\0') {
            hr_unescape(&p, out);
        } else if (quote == '\'' && p[0] == '\\' && p[1] == '\'') {
            *(*out)++ = '\'';
            p += 2;
        } else {
            *(*out)++ = *p++;
        }
    }
    p++;
    if (*p != '\0' && *p != ' ' && *p != '\t')
        return -1;
    *in = p;
    return 0;
}

/*
 * Splits text into args in place, as redis-cli splits a command line: at
 * spaces and tabs, with "..." and '...' quoting. Inside "...", the escapes
 * \n, \r, \t, \b, \a and \xHH are read, and a backslash before any other
 * character stands for that character. Inside '...', only \' is read.
 * Returns the number of arguments, -1 for an unbalanced quote, or -2 when
 * there are more than max.
 */
static int hr_split_words(char *text, hr_slice *args, int max)
{
    const char *in = text;
    char *out = text;
    int count = 0;

    for (;;) {
        char *start;

        in += strspn(in, " \t");
        if (*in == '\0')
            return count;
        if (count == max)
            return -2;

        /* Unescaping only shrinks a word, so out never passes in. */
        start = out;
        while (*in != '\0' && *in != ' ' && *in != '\t') {
            if (*in != '"' && *in != '\'')
                *out++ = *in++;
            else if (hr_copy_quoted(&in, &out) != 0)
                return -1;
        }
        args[count].ptr = start;
        args[count].len = (size_t)(out - start);
        count++;
    }
}

/* Prints an argument bare, or in double quotes with escapes when it is
 * empty or has a space, a quote, a backslash or a byte that is not
 * printable UTF-8. */
static void hr_print_argument(const hr_slice *arg)
{
    bool utf8 = hr_utf8_invalid_at(arg->ptr, arg->len) == arg->len;
    bool bare = arg->len > 0 && utf8;

    for (size_t i = 0; i < arg->len && bare; i++) {
        unsigned char c = (unsigned char)arg->ptr[i];

        bare = c > 0x20 && c != 0x7f && strchr("\"'\\", c) == NULL;
    }
    if (bare) {
        fwrite(arg->ptr, 1, arg->len, stdout);
        return;
    }
    putchar('"');
    hr_write_escaped(stdout, arg->ptr, arg->len, utf8);
    putchar('"');
}

static void hr_print_command_line(const hr_slice *args, int count)
{
    fputs("command: ", stdout);
    for (int i = 0; i < count; i++) {
        if (i > 0)
            putchar(' ');
        hr_print_argument(&args[i]);
    }
    putchar('\n');
}

/*
 * Stores the arguments of COMMAND in args: the words of a single operand,
 * or each operand as it is. Returns their number, or -1 after reporting
 * invalid input.
 */
static int hr_command_args(int count, char **operands, char *joined,
                           hr_slice *args)
{
    int argc = count;

    if (count == 1) {
        argc = hr_split_words(joined, args, HR_COMMAND_ARGS_MAX);
    } else if (count <= HR_COMMAND_ARGS_MAX) {
        for (int i = 0; i < count; i++) {
            args[i].ptr = operands[i];
            args[i].len = strlen(operands[i]);
        }
    } else {
        argc = -2;
    }

    if (argc == -1)
        hr_print_error("invalid COMMAND: a quote is not closed, or a word "
                       "goes on after its closing quote");
    else if (argc == -2)
        hr_print_error("invalid COMMAND: more than %d arguments",
                       HR_COMMAND_ARGS_MAX);
    else if (argc == 0 || args[0].len == 0)
        hr_print_error("invalid COMMAND: the command name is empty");
    else
        return argc;
    return -1;
}

/* Prints a note when the configuration sends no command again at all. */
static void hr_print_retries_off(const hr_explain_config *explain)
{
    if (explain->config.disable)
        puts("note: HIRETRY_DISABLE turns libhiretry.so off, so no command "
             "is sent again");
    else if (explain->config.policy.retries == 0)
        puts("note: HIRETRY_RETRIES=0 allows no retry, so no command is "
             "sent again");
}

static int hr_explain_command(const hr_explain_config *explain, int count,
                              char **operands)
{
    static char joined[HR_INPUT_MAX + 1];
    static hr_slice args[HR_COMMAND_ARGS_MAX];
    hr_command_info info;
    int argc;

    if (hr_join_input(count, operands, "COMMAND", joined) < 0)
        return HR_EXIT_USAGE;
    argc = hr_command_args(count, operands, joined, args);
    if (argc < 0)
        return HR_EXIT_USAGE;

    info = hr_command_classify(args, argc);
    hr_print_command_line(args, argc);
    printf("known: %s\n", info.flags & HR_COMMAND_KNOWN ? "yes" : "no");
    printf("safety: %s\n", hr_safety_text(&info));
    printf("reason: %s\n", info.reason);
    hr_print_flags(info.flags);
    hr_print_command_repeat(explain, &info, &args[0]);
    hr_print_command_notes(&info, &args[0]);
    hr_print_retries_off(explain);
    return HR_EXIT_OK;
}

/* argv[0] is "explain". */
static int hr_explain(int argc, char **argv)
{
    static char text[HR_INPUT_MAX + 1];
    hr_explain_config explain;
    bool command = false;
    int index = 1;
    long len;

    for (; index < argc; index++) {
        const char *arg = argv[index];

        if (hr_is_help(arg)) {
            fputs(hr_explain_help, stdout);
            return HR_EXIT_OK;
        }
        if (strcmp(arg, "-c") == 0 || strcmp(arg, "--command") == 0) {
            command = true;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            index++;
            break;
        }
        /* A single '-' starts an error reply: -READONLY ... */
        if (strncmp(arg, "--", 2) == 0)
            return hr_usage_error("explain", "unknown option '%s'", arg);
        break;
    }

    if (index >= argc)
        return hr_usage_error("explain", "missing %s to explain",
                              command ? "COMMAND" : "TEXT");

    if (hr_explain_config_load(&explain) != 0)
        return HR_EXIT_USAGE;
    if (command)
        return hr_explain_command(&explain, argc - index, &argv[index]);

    len = hr_join_input(argc - index, &argv[index], "TEXT", text);
    if (len < 0)
        return HR_EXIT_USAGE;
    if (strspn(text, " \t") == (size_t)len) {
        hr_print_error("invalid TEXT: it is empty");
        return HR_EXIT_USAGE;
    }
    return hr_explain_text(&explain, text, (size_t)len);
}

/* ---- main ---- */

/* Flushes standard output and reports a write error, which a full disk or
 * a closed pipe causes, as a failure. */
static int hr_finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        hr_print_error("writing the output failed: %s", strerror(errno));
        return HR_EXIT_USAGE;
    }
    return status;
}

int main(int argc, char **argv)
{
    const char *command = argc > 1 ? argv[1] : NULL;
    int status;

    if (command == NULL)
        return hr_usage_error(NULL, "missing command: run, check or explain");
    if (hr_is_help(command)) {
        fputs(hr_main_help, stdout);
        return hr_finish(HR_EXIT_OK);
    }

    if (strcmp(command, "run") == 0)
        status = hr_run(argc - 1, argv + 1);
    else if (strcmp(command, "check") == 0)
        status = hr_check(argc - 1, argv + 1);
    else if (strcmp(command, "explain") == 0)
        status = hr_explain(argc - 1, argv + 1);
    else if (command[0] == '-')
        return hr_usage_error(NULL, "unknown option '%s'", command);
    else
        return hr_usage_error(NULL,
                              "unknown command '%s': expected run, check "
                              "or explain",
                              command);
    return hr_finish(status);
}
