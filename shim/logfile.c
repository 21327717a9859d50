/*
 * The destinations of log lines: standard error, a file, or syslog, as
 * HIRETRY_LOG_FILE selects.
 *
 * A file is opened at the first line with O_APPEND, so lines from several
 * processes stay whole, and O_NOFOLLOW, so that a symbolic link planted at
 * the path cannot redirect the writes. Its descriptor is kept above 2,
 * where a program that closes and reopens standard error cannot replace
 * it. Before each line the descriptor's device and inode are compared
 * with the file opened: a program that closed every descriptor may have
 * reused the number for a socket, perhaps its server connection, and a
 * line written there would corrupt it. The file is then opened again.
 *
 * syslog goes through a datagram socket of its own to /dev/log, or to the
 * socket that "syslog:PATH" names, in the format of glibc's syslog(3).
 * The shim does not call openlog(3) or syslog(3): openlog would replace the
 * program's own ident and facility, and glibc keeps one connection per
 * process, which the program may close or reopen at any time.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hiretry/path.h"
#include "shim.h"
#include "sigpipe.h"

#define HR_SYSLOG_DEFAULT_PATH "/dev/log"
#define HR_SYSLOG_PREFIX "syslog:"

/* LOG_USER, and the severities of syslog.h for each level. */
#define HR_SYSLOG_FACILITY (1 << 3)
static const int hr_syslog_severity[] = {
    [HR_LOG_OFF] = 7,  [HR_LOG_ERROR] = 3, [HR_LOG_WARN] = 4,
    [HR_LOG_INFO] = 6, [HR_LOG_DEBUG] = 7,
};

typedef enum hr_log_target {
    HR_TARGET_UNSET,  /* not yet opened in this process */
    HR_TARGET_STDERR, /* no HIRETRY_LOG_FILE, or opening it failed */
    HR_TARGET_FILE,
    HR_TARGET_SYSLOG
} hr_log_target;

static struct {
    hr_log_target target;
    pid_t pid; /* the process that opened fd */
    int fd;
    dev_t dev;
    ino_t ino;
    bool fifo; /* a write may raise SIGPIPE once the reader is gone */
    char path[HR_PATH_MAX + 32]; /* after %p expansion */
} hr_log_out = {HR_TARGET_UNSET, 0, -1, 0, 0, false, ""};

static pthread_mutex_t hr_log_out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t hr_log_out_atfork_once = PTHREAD_ONCE_INIT;

static void hr_log_out_prepare_fork(void)
{
    pthread_mutex_lock(&hr_log_out_lock);
}

static void hr_log_out_after_fork(void)
{
    pthread_mutex_unlock(&hr_log_out_lock);
}

static void hr_log_out_register_atfork(void)
{
    pthread_atfork(hr_log_out_prepare_fork, hr_log_out_after_fork,
                   hr_log_out_after_fork);
}

/* Moves fd above standard error, so that a dup2() onto 0, 1 or 2 by the
 * program cannot replace it. Returns the new descriptor, or -1. */
static int hr_fd_above_stderr(int fd)
{
    int moved;

    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    close(fd);
    return moved;
}

/* O_NONBLOCK makes a FIFO with no reader fail with ENXIO instead of
 * blocking the program, and a full one drop lines instead of waiting. */
static int hr_open_log_file(const char *path)
{
    int fd = open(path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                      O_NOCTTY | O_NONBLOCK,
                  0640);

    return hr_fd_above_stderr(fd);
}

static int hr_open_syslog(const char *path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(address.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    fd = hr_fd_above_stderr(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        int error_number = errno;
        close(fd);
        errno = error_number;
        return -1;
    }
    return fd;
}

/* Writes one line to standard error while descriptor 2 is unchanged. */
static void hr_write_stderr(const char *line, size_t length)
{
    if (hr_log_stderr_unchanged()) {
        ssize_t ignored = write(STDERR_FILENO, line, length);
        (void)ignored;
    }
}

/* Opens the destination for this process. Returns 0, or -1 with errno
 * set and the target left at standard error. */
static int hr_log_out_open(void)
{
    const char *setting = hr_shim_config.log_file;
    bool syslog = strncmp(setting, "syslog", 6) == 0 &&
                  (setting[6] == '\0' || setting[6] == ':');
    const char *pattern = setting;
    int fd;

    hr_log_out.target = HR_TARGET_STDERR;
    hr_log_out.pid = getpid();
    if (setting[0] == '\0')
        return 0;
    if (syslog)
        pattern = setting[6] == ':' ? setting + strlen(HR_SYSLOG_PREFIX)
                                    : HR_SYSLOG_DEFAULT_PATH;
    if (hr_path_expand(pattern, (long)hr_log_out.pid, hr_log_out.path,
                       sizeof(hr_log_out.path)) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = syslog ? hr_open_syslog(hr_log_out.path)
                : hr_open_log_file(hr_log_out.path);
    if (fd < 0)
        return -1;

    struct stat st;
    if (fstat(fd, &st) != 0) {
        int error_number = errno;
        close(fd);
        errno = error_number;
        return -1;
    }
    hr_log_out.fd = fd;
    hr_log_out.dev = st.st_dev;
    hr_log_out.ino = st.st_ino;
    hr_log_out.fifo = S_ISFIFO(st.st_mode);
    hr_log_out.target = syslog ? HR_TARGET_SYSLOG : HR_TARGET_FILE;
    return 0;
}

/* Reports, to standard error and once per process, a file that could not be
 * opened. */
static void hr_log_out_report(int error_number)
{
    char line[HR_PATH_MAX + 256];
    int length =
        snprintf(line, sizeof(line),
                 "hiretry: level=warn event=log_file_failed "
                 "path=\"%s\" error=\"%s\" "
                 "reason=\"logging to standard error instead\"\n",
                 hr_log_out.path[0] ? hr_log_out.path : hr_shim_config.log_file,
                 strerror(error_number));

    if (length > 0)
        hr_write_stderr(line, (size_t)length < sizeof(line) ? (size_t)length
                                                            : sizeof(line) - 1);
}

/*
 * Returns true while hr_log_out.fd is still the file or socket opened. The
 * descriptor is not closed when it changed: its number now belongs to the
 * program.
 */
static bool hr_log_out_unchanged(void)
{
    struct stat st;

    return fstat(hr_log_out.fd, &st) == 0 && st.st_dev == hr_log_out.dev &&
           st.st_ino == hr_log_out.ino;
}

/*
 * Returns true when the path no longer names the open file, because log
 * rotation (logrotate without copytruncate) renamed or removed it. The next
 * line then goes to a new file at the path. A relative path is never
 * checked, since it would name another file once the program changes its
 * working directory.
 */
static bool hr_log_file_rotated(void)
{
    struct stat st;

    if (hr_log_out.path[0] != '/')
        return false;
    return lstat(hr_log_out.path, &st) != 0 || st.st_dev != hr_log_out.dev ||
           st.st_ino != hr_log_out.ino;
}

/*
 * Makes hr_log_out ready for this process: opened at the first line, again
 * in a child whose path has %p, again when the program closed the
 * descriptor, and again when the file was rotated. Called with the lock
 * held.
 */
static void hr_log_out_prepare(void)
{
    bool reopen = hr_log_out.target == HR_TARGET_UNSET;

    if (hr_log_out.target == HR_TARGET_FILE ||
        hr_log_out.target == HR_TARGET_SYSLOG) {
        if (!hr_log_out_unchanged()) {
            hr_log_out.fd = -1;
            reopen = true;
        } else if ((hr_log_out.pid != getpid() &&
                    hr_path_per_process(hr_shim_config.log_file)) ||
                   (hr_log_out.target == HR_TARGET_FILE &&
                    hr_log_file_rotated())) {
            close(hr_log_out.fd);
            hr_log_out.fd = -1;
            reopen = true;
        }
    }
    if (reopen && hr_log_out_open() != 0)
        hr_log_out_report(errno);
}

/* Formats an RFC 3164 header as glibc's syslog(3) does: "<PRI>Mmm dd
 * hh:mm:ss hiretry[PID]: ". Returns its length. */
static int hr_syslog_header(hr_log_level level, char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm local;
    char stamp[32];

    if (localtime_r(&now, &local) == NULL ||
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &local) == 0)
        stamp[0] = '\0';
    return snprintf(buf, size, "<%d>%s hiretry[%ld]: ",
                    HR_SYSLOG_FACILITY | hr_syslog_severity[level], stamp,
                    (long)getpid());
}

/* Formats "2024-05-01T03:00:00.123Z pid=42 " for a line in a file. */
static int hr_file_header(char *buf, size_t size)
{
    struct timespec now;
    struct tm utc;
    char stamp[32];

    clock_gettime(CLOCK_REALTIME, &now);
    if (gmtime_r(&now.tv_sec, &utc) == NULL ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc) == 0)
        stamp[0] = '\0';
    return snprintf(buf, size, "%s.%03ldZ pid=%ld ", stamp,
                    now.tv_nsec / 1000000, (long)getpid());
}

/* Connects again after the syslog daemon restarted, and sends once more. */
static void hr_syslog_resend(const char *message, size_t length)
{
    int fd = hr_open_syslog(hr_log_out.path);
    struct stat st;

    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    close(hr_log_out.fd);
    hr_log_out.fd = fd;
    hr_log_out.dev = st.st_dev;
    hr_log_out.ino = st.st_ino;
    if (send(fd, message, length, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        return;
}

/* Writes header and line to the file or socket as one write. */
static void hr_log_out_send(const char *header, int header_length,
                            const char *line, size_t length)
{
    char message[1200];
    size_t total;

    if (header_length < 0 || (size_t)header_length >= sizeof(message))
        header_length = 0;
    if (length > sizeof(message) - (size_t)header_length)
        length = sizeof(message) - (size_t)header_length;
    memcpy(message, header, (size_t)header_length);
    memcpy(message + header_length, line, length);
    total = (size_t)header_length + length;

    if (hr_log_out.target == HR_TARGET_SYSLOG) {
        /* Never wait for a slow syslog daemon: a line it cannot take now
           is dropped. The daemon needs no newline. */
        if (send(hr_log_out.fd, message, total - 1,
                 MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
            (errno == ECONNREFUSED || errno == ENOTCONN))
            hr_syslog_resend(message, total - 1);
    } else if (hr_log_out.fifo) {
        hr_sigpipe_guard guard;
        ssize_t written;

        hr_sigpipe_block(&guard);
        written = write(hr_log_out.fd, message, total);
        hr_sigpipe_restore(&guard, written < 0);
    } else {
        ssize_t ignored = write(hr_log_out.fd, message, total);
        (void)ignored;
    }
}

void hr_log_emit(hr_log_level level, const char *line, size_t length)
{
    static const char prefix[] = "hiretry: ";
    char header[96];
    int header_length;

    if (hr_shim_config.log_file[0] == '\0') {
        hr_write_stderr(line, length);
        return;
    }

    pthread_once(&hr_log_out_atfork_once, hr_log_out_register_atfork);
    pthread_mutex_lock(&hr_log_out_lock);
    hr_log_out_prepare();
    switch (hr_log_out.target) {
    case HR_TARGET_SYSLOG:
        /* The header names hiretry already. */
        if (length > sizeof(prefix) - 1 &&
            memcmp(line, prefix, sizeof(prefix) - 1) == 0) {
            line += sizeof(prefix) - 1;
            length -= sizeof(prefix) - 1;
        }
        header_length = hr_syslog_header(level, header, sizeof(header));
        hr_log_out_send(header, header_length, line, length);
        break;
    case HR_TARGET_FILE:
        header_length = hr_file_header(header, sizeof(header));
        hr_log_out_send(header, header_length, line, length);
        break;
    default:
        hr_write_stderr(line, length);
        break;
    }
    pthread_mutex_unlock(&hr_log_out_lock);
}
