/*
 * Fuzzes hr_classify_transport. The first input byte selects the kind,
 * including values outside the enum. The second byte selects an errno from
 * 0 to 149, or the four bytes after it when it is 0xff. The rest is errstr,
 * copied into a buffer of exactly its length so that AddressSanitizer
 * reports any read past it.
 *
 * Beyond memory safety, each result must be a class of the table with the
 * flags the header promises:
 * - drop_connection always, not_executed never;
 * - the fixed class of the kinds that ignore errno and errstr;
 * - errno ignored for HR_TRANSPORT_OTHER;
 * - an immediate give-up in the policy when permanent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiretry/classify.h"
#include "hiretry/errors.h"
#include "hiretry/policy.h"
#include "hr_fuzz.h"

static int64_t hr_fuzz_now_ns(void *arg)
{
    (void)arg;
    return 0;
}

static void hr_fuzz_sleep_ns(void *arg, int64_t ns)
{
    (void)arg;
    (void)ns;
}

static const hr_clock hr_fuzz_clock = {hr_fuzz_now_ns, hr_fuzz_sleep_ns, NULL};

static bool hr_failure_equal(const hr_failure *a, const hr_failure *b)
{
    return a->cls == b->cls && a->not_executed == b->not_executed &&
           a->drop_connection == b->drop_connection &&
           a->permanent == b->permanent;
}

static void hr_check_flags(const hr_failure *failure)
{
    HR_FUZZ_CHECK(failure->cls >= 0 && failure->cls < HR_CLASS_COUNT,
                  "class %d", (int)failure->cls);
    HR_FUZZ_CHECK(hr_class_name(failure->cls) != NULL, "class %d",
                  (int)failure->cls);
    HR_FUZZ_CHECK(failure->drop_connection, "class %s",
                  hr_class_name(failure->cls));
    HR_FUZZ_CHECK(!failure->not_executed, "class %s",
                  hr_class_name(failure->cls));
}

/* A policy that retries every class must retry every non-permanent
 * failure, and give up at once on a permanent one. */
static void hr_check_policy(const hr_failure *failure)
{
    hr_policy policy;
    hr_call call;
    hr_verdict verdict;
    int64_t delay_ns = -1;

    memset(&policy, 0, sizeof(policy));
    policy.retries = -1;
    policy.backoff.kind = HR_BACKOFF_NONE;
    policy.retry_on = hr_class_set_add(0, HR_CLASS_VALKEY_ERROR);
    policy.writes = HR_WRITES_ALL;

    hr_call_begin(&call, &policy, &hr_fuzz_clock);
    verdict = hr_call_failed(&call, failure, true, &delay_ns);
    if (failure->permanent) {
        HR_FUZZ_CHECK(verdict == HR_GIVE_UP_PERMANENT, "verdict %s",
                      hr_verdict_name(verdict));
    } else {
        HR_FUZZ_CHECK(verdict == HR_RETRY, "verdict %s",
                      hr_verdict_name(verdict));
    }
}

/* Checks the kinds whose class neither errno nor errstr changes. */
static void hr_check_fixed_kind(int kind, const hr_failure *failure)
{
    hr_class expected;

    switch (kind) {
    case HR_TRANSPORT_EOF:
        expected = HR_CLASS_CONNECTION_ERROR;
        break;
    case HR_TRANSPORT_PROTOCOL:
        expected = HR_CLASS_INVALID_RESPONSE;
        break;
    case HR_TRANSPORT_OOM:
        expected = HR_CLASS_VALKEY_ERROR;
        break;
    case HR_TRANSPORT_TIMEOUT:
        expected = HR_CLASS_TIMEOUT_ERROR;
        break;
    default:
        return;
    }
    HR_FUZZ_CHECK(failure->cls == expected, "kind %d gave %s", kind,
                  hr_class_name(failure->cls));
    HR_FUZZ_CHECK(!failure->permanent, "kind %d", kind);
}

/*
 * Checks that HR_TRANSPORT_OTHER ignores errno, treats kinds outside the
 * enum the same way, and is either the default or a caller error.
 */
static void hr_check_other(int kind, int error_number, const char *errstr,
                           size_t len, const hr_failure *failure)
{
    hr_failure other;

    if (kind >= HR_TRANSPORT_IO && kind <= HR_TRANSPORT_TIMEOUT &&
        kind != HR_TRANSPORT_OTHER)
        return;

    other = hr_classify_transport(HR_TRANSPORT_OTHER, error_number ^ 0x55,
                                  errstr, len);
    HR_FUZZ_CHECK(hr_failure_equal(&other, failure),
                  "kind %d gave %s, "
                  "OTHER gave %s",
                  kind, hr_class_name(failure->cls), hr_class_name(other.cls));
    HR_FUZZ_CHECK(failure->permanent ||
                      failure->cls == HR_CLASS_CONNECTION_ERROR,
                  "class %s", hr_class_name(failure->cls));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int kind;
    int error_number;
    char *errstr;
    size_t len;
    hr_failure failure;
    hr_failure again;

    if (size < 2)
        return 0;
    kind = (int)(int8_t)data[0];
    error_number = data[1] % 150;
    data += 2;
    size -= 2;
    if (data[-1] == 0xff && size >= 4) {
        memcpy(&error_number, data, 4);
        data += 4;
        size -= 4;
    }

    len = size;
    errstr = malloc(len > 0 ? len : 1);
    if (errstr == NULL)
        return 0;
    if (len > 0)
        memcpy(errstr, data, len);

    failure = hr_classify_transport((hr_transport_error)kind, error_number,
                                    errstr, len);
    hr_check_flags(&failure);
    hr_check_policy(&failure);
    hr_check_fixed_kind(kind, &failure);
    hr_check_other(kind, error_number, errstr, len, &failure);

    if (len == 0) {
        again = hr_classify_transport((hr_transport_error)kind, error_number,
                                      NULL, 0);
        HR_FUZZ_CHECK(hr_failure_equal(&again, &failure), "NULL gave %s",
                      hr_class_name(again.cls));
    }

    free(errstr);
    return 0;
}
