/*
 * Fuzzes hr_classify_reply with the input as the text of an error reply.
 *
 * The text is copied into a buffer of exactly its length, so AddressSanitizer
 * reports any read past it. Each result must be a class of the table with
 * flags that agree with it. It must depend only on the first word, or on the
 * whole message of an "ERR" reply. A permanent one must make the policy give
 * up at once.
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

/* Checks the result against the class table and the header's contract. */
static void hr_check_flags(const hr_failure *failure)
{
    bool connection;

    HR_FUZZ_CHECK(failure->cls >= 0 && failure->cls < HR_CLASS_COUNT,
                  "class %d", (int)failure->cls);
    HR_FUZZ_CHECK(hr_class_name(failure->cls) != NULL, "class %d",
                  (int)failure->cls);

    /* A reply is a ResponseError unless it names a ConnectionError. */
    connection = hr_class_is_a(failure->cls, HR_CLASS_CONNECTION_ERROR);
    HR_FUZZ_CHECK(connection ||
                      hr_class_is_a(failure->cls, HR_CLASS_RESPONSE_ERROR),
                  "class %s", hr_class_name(failure->cls));
    HR_FUZZ_CHECK(failure->drop_connection == connection, "class %s",
                  hr_class_name(failure->cls));

    /* The server replied, so the call itself is never at fault. */
    HR_FUZZ_CHECK(!failure->permanent, "class %s", hr_class_name(failure->cls));
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
    policy.retries = 3;
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
    HR_FUZZ_CHECK(delay_ns == 0, "delay %lld", (long long)delay_ns);
}

/*
 * Checks that only the first word decides, as valkey-py's
 * text.split(" ")[0] does, except for "ERR", whose message decides.
 */
static void hr_check_first_word(const char *text, size_t len,
                                const hr_failure *failure)
{
    const char *space = memchr(text, ' ', len);
    size_t code_len = space != NULL ? (size_t)(space - text) : len;
    char *code;
    hr_failure alone;

    if (code_len == 3 && memcmp(text, "ERR", 3) == 0) {
        if (space == NULL) {
            HR_FUZZ_CHECK(failure->cls == HR_CLASS_RESPONSE_ERROR, "class %s",
                          hr_class_name(failure->cls));
        }
        return;
    }

    /* Every code in the table starts with an upper-case letter. */
    if (len == 0 || text[0] < 'A' || text[0] > 'Z') {
        HR_FUZZ_CHECK(failure->cls == HR_CLASS_RESPONSE_ERROR, "class %s",
                      hr_class_name(failure->cls));
        HR_FUZZ_CHECK(!failure->not_executed, "class %s",
                      hr_class_name(failure->cls));
    }

    code = malloc(code_len > 0 ? code_len : 1);
    if (code == NULL)
        return;
    memcpy(code, text, code_len);
    alone = hr_classify_reply(code, code_len);
    free(code);
    HR_FUZZ_CHECK(hr_failure_equal(&alone, failure), "code alone %s, text %s",
                  hr_class_name(alone.cls), hr_class_name(failure->cls));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    char *longer = malloc(size + 1);
    hr_failure failure;
    hr_failure again;

    if (text == NULL || longer == NULL) {
        free(text);
        free(longer);
        return 0;
    }
    if (size > 0)
        memcpy(text, data, size);

    failure = hr_classify_reply(text, size);
    hr_check_flags(&failure);
    hr_check_policy(&failure);
    hr_check_first_word(text, size, &failure);

    /* Bytes after len must not count: a word may continue past the end. */
    if (size > 0)
        memcpy(longer, data, size);
    longer[size] = 'S';
    again = hr_classify_reply(longer, size);
    HR_FUZZ_CHECK(hr_failure_equal(&again, &failure), "%s then %s",
                  hr_class_name(failure.cls), hr_class_name(again.cls));

    if (size == 0) {
        again = hr_classify_reply(NULL, 0);
        HR_FUZZ_CHECK(hr_failure_equal(&again, &failure), "NULL gives %s",
                      hr_class_name(again.cls));
    }

    free(text);
    free(longer);
    return 0;
}
