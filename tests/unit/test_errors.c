/*
 * Tests of the error classes against valkey-py's hierarchy written out again
 * here, by hand: every class's name, parents and ancestors. The is-a test
 * runs every class against every class and compares with that list, so a
 * wrong row in HR_CLASS_TABLE or a wrong walk in errors.c shows up as a
 * mismatch instead of being recomputed by the same code. Class sets are
 * compared with bit masks built from the same hand-written facts.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "hiretry/errors.h"
#include "hr_test.h"

#define HR_NONE HR_CLASS_NONE

/* One class as valkey-py 6.x defines it. ancestors ends at HR_NONE and does
 * not contain the class itself. */
typedef struct hr_expected_class {
    hr_class cls;
    const char *name;
    hr_class parent;
    hr_class second_parent;
    hr_class ancestors[5];
} hr_expected_class;

static const hr_expected_class hr_expected[] = {
    {HR_CLASS_VALKEY_ERROR, "ValkeyError", HR_NONE, HR_NONE, {HR_NONE}},
    {HR_CLASS_CONNECTION_ERROR,
     "ConnectionError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_AUTHENTICATION_ERROR,
     "AuthenticationError",
     HR_CLASS_CONNECTION_ERROR,
     HR_NONE,
     {HR_CLASS_CONNECTION_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_AUTHORIZATION_ERROR,
     "AuthorizationError",
     HR_CLASS_CONNECTION_ERROR,
     HR_NONE,
     {HR_CLASS_CONNECTION_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_BUSY_LOADING_ERROR,
     "BusyLoadingError",
     HR_CLASS_CONNECTION_ERROR,
     HR_NONE,
     {HR_CLASS_CONNECTION_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_MAX_CONNECTIONS_ERROR,
     "MaxConnectionsError",
     HR_CLASS_CONNECTION_ERROR,
     HR_NONE,
     {HR_CLASS_CONNECTION_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_TIMEOUT_ERROR,
     "TimeoutError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_INVALID_RESPONSE,
     "InvalidResponse",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_RESPONSE_ERROR,
     "ResponseError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_NO_SCRIPT_ERROR,
     "NoScriptError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_OUT_OF_MEMORY_ERROR,
     "OutOfMemoryError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_EXEC_ABORT_ERROR,
     "ExecAbortError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_READ_ONLY_ERROR,
     "ReadOnlyError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_NO_PERMISSION_ERROR,
     "NoPermissionError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_MODULE_ERROR,
     "ModuleError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR,
     "AuthenticationWrongNumberOfArgsError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_ASK_ERROR,
     "AskError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_MOVED_ERROR,
     "MovedError",
     HR_CLASS_ASK_ERROR,
     HR_NONE,
     {HR_CLASS_ASK_ERROR, HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR,
      HR_NONE}},
    {HR_CLASS_TRY_AGAIN_ERROR,
     "TryAgainError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_CLUSTER_CROSS_SLOT_ERROR,
     "ClusterCrossSlotError",
     HR_CLASS_RESPONSE_ERROR,
     HR_NONE,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_CLUSTER_DOWN_ERROR,
     "ClusterDownError",
     HR_CLASS_RESPONSE_ERROR,
     HR_CLASS_CLUSTER_ERROR,
     {HR_CLASS_RESPONSE_ERROR, HR_CLASS_CLUSTER_ERROR, HR_CLASS_VALKEY_ERROR,
      HR_NONE}},
    {HR_CLASS_MASTER_DOWN_ERROR,
     "MasterDownError",
     HR_CLASS_CLUSTER_DOWN_ERROR,
     HR_NONE,
     {HR_CLASS_CLUSTER_DOWN_ERROR, HR_CLASS_RESPONSE_ERROR,
      HR_CLASS_CLUSTER_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_DATA_ERROR,
     "DataError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_PUB_SUB_ERROR,
     "PubSubError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_WATCH_ERROR,
     "WatchError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_CLUSTER_ERROR,
     "ClusterError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_LOCK_ERROR,
     "LockError",
     HR_CLASS_VALKEY_ERROR,
     HR_NONE,
     {HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_LOCK_NOT_OWNED_ERROR,
     "LockNotOwnedError",
     HR_CLASS_LOCK_ERROR,
     HR_NONE,
     {HR_CLASS_LOCK_ERROR, HR_CLASS_VALKEY_ERROR, HR_NONE}},
    {HR_CLASS_CHILD_DEADLOCKED_ERROR,
     "ChildDeadlockedError",
     HR_NONE,
     HR_NONE,
     {HR_NONE}},
    {HR_CLASS_VALKEY_CLUSTER_EXCEPTION,
     "ValkeyClusterException",
     HR_NONE,
     HR_NONE,
     {HR_NONE}},
    {HR_CLASS_SLOT_NOT_COVERED_ERROR,
     "SlotNotCoveredError",
     HR_CLASS_VALKEY_CLUSTER_EXCEPTION,
     HR_NONE,
     {HR_CLASS_VALKEY_CLUSTER_EXCEPTION, HR_NONE}},
};

#define HR_EXPECTED_COUNT (sizeof(hr_expected) / sizeof(hr_expected[0]))

/* Values that are not classes. None of them may index a table. */
static const int hr_invalid_classes[] = {
    -1, HR_CLASS_COUNT, HR_CLASS_COUNT + 1, 63, 64, INT_MAX, INT_MIN,
};

#define HR_INVALID_COUNT                                                       \
    (sizeof(hr_invalid_classes) / sizeof(hr_invalid_classes[0]))

static hr_class_set hr_bit(hr_class cls)
{
    return (hr_class_set)1 << cls;
}

/* Returns true when the hand-written list makes row's class is-a ancestor. */
static bool hr_expected_is_a(const hr_expected_class *row, hr_class ancestor)
{
    size_t i;

    if (row->cls == ancestor)
        return true;
    for (i = 0; row->ancestors[i] != HR_NONE; i++) {
        if (row->ancestors[i] == ancestor)
            return true;
    }
    return false;
}

static void test_class_table_matches_valkey_py(void)
{
    size_t i;

    HR_ASSERT_INT_EQ(HR_CLASS_COUNT, 31);
    HR_ASSERT_UINT_EQ(HR_EXPECTED_COUNT, HR_CLASS_COUNT);

    /* The expected rows are in enum order, so row i describes class i. */
    for (i = 0; i < HR_EXPECTED_COUNT; i++)
        HR_ASSERT_INT_EQ(hr_expected[i].cls, i);
}

static void test_class_name_round_trip(void)
{
    size_t i;

    for (i = 0; i < HR_EXPECTED_COUNT; i++) {
        const hr_expected_class *row = &hr_expected[i];
        hr_class found = HR_CLASS_NONE;

        HR_ASSERT_STR_EQ(hr_class_name(row->cls), row->name);
        HR_ASSERT_INT_EQ(
            hr_class_from_name(row->name, strlen(row->name), &found), 0);
        HR_ASSERT_STR_EQ(hr_class_name(found), row->name);
    }
}

static void test_class_name_invalid_is_null(void)
{
    size_t i;

    for (i = 0; i < HR_INVALID_COUNT; i++) {
        const char *name = hr_class_name((hr_class)hr_invalid_classes[i]);

        HR_ASSERT_STR_EQ(name, NULL);
    }
}

static void test_class_from_name_near_misses(void)
{
    static const struct {
        const char *bytes;
        size_t len;
    } misses[] = {
        {"", 0},
        {"valkeyError", 11},
        {"VALKEYERROR", 11},
        {"ValkeyErro", 10},
        {"ValkeyErrors", 12},
        {" ValkeyError", 12},
        {"ValkeyError ", 12},
        {"ValkeyError\0", 12},
        {"Ask\0Error", 9},
        {"Connection", 10},
        {"Error", 5},
        {"ConnectionError.", 16},
        {"RedisError", 10},
        {"ClusterDown", 11},
        {"MovedErr", 8},
        {"\xff\xfe", 2},
    };
    size_t i;

    for (i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        hr_class found = HR_CLASS_NONE;
        int rc = hr_class_from_name(misses[i].bytes, misses[i].len, &found);

        HR_ASSERT_INT_EQ(rc, -1);
    }
}

static void test_class_from_name_reads_len_bytes(void)
{
    hr_class found = HR_CLASS_NONE;

    /* The name need not end with a NUL: len alone bounds it. */
    HR_ASSERT_INT_EQ(hr_class_from_name("ConnectionErrorXYZ", 15, &found), 0);
    HR_ASSERT_INT_EQ(found, HR_CLASS_CONNECTION_ERROR);
    HR_ASSERT_INT_EQ(hr_class_from_name("MovedError", 5, &found), -1);
    HR_ASSERT_INT_EQ(hr_class_from_name(NULL, 0, &found), -1);
}

static void test_class_parent_table(void)
{
    size_t i;

    for (i = 0; i < HR_EXPECTED_COUNT; i++) {
        const hr_expected_class *row = &hr_expected[i];

        HR_ASSERT_INT_EQ(hr_class_parent(row->cls, 0), row->parent);
        HR_ASSERT_INT_EQ(hr_class_parent(row->cls, 1), row->second_parent);
        HR_ASSERT_INT_EQ(hr_class_parent(row->cls, -1), HR_NONE);
        HR_ASSERT_INT_EQ(hr_class_parent(row->cls, 2), HR_NONE);
    }
}

static void test_class_parent_of_invalid_class(void)
{
    size_t i;

    for (i = 0; i < HR_INVALID_COUNT; i++) {
        hr_class cls = (hr_class)hr_invalid_classes[i];

        HR_ASSERT_INT_EQ(hr_class_parent(cls, 0), HR_NONE);
        HR_ASSERT_INT_EQ(hr_class_parent(cls, 1), HR_NONE);
    }
}

/* Reports a mismatch with both class names, so a failure names the pair. */
static void hr_check_is_a(const hr_expected_class *row,
                          const hr_expected_class *other)
{
    char actual[128];
    char expected[128];
    bool is_a = hr_class_is_a(row->cls, other->cls);

    snprintf(actual, sizeof(actual), "%s is-a %s: %s", row->name, other->name,
             is_a ? "true" : "false");
    snprintf(expected, sizeof(expected), "%s is-a %s: %s", row->name,
             other->name, hr_expected_is_a(row, other->cls) ? "true" : "false");
    HR_ASSERT_STR_EQ(actual, expected);
}

static void test_class_is_a_whole_table(void)
{
    size_t i;
    size_t j;

    for (i = 0; i < HR_EXPECTED_COUNT; i++) {
        for (j = 0; j < HR_EXPECTED_COUNT; j++)
            hr_check_is_a(&hr_expected[i], &hr_expected[j]);
    }
}

static void test_class_is_a_invalid_class(void)
{
    size_t i;

    for (i = 0; i < HR_INVALID_COUNT; i++) {
        hr_class cls = (hr_class)hr_invalid_classes[i];

        HR_ASSERT_TRUE(!hr_class_is_a(cls, HR_CLASS_VALKEY_ERROR));
        HR_ASSERT_TRUE(!hr_class_is_a(HR_CLASS_VALKEY_ERROR, cls));
        HR_ASSERT_TRUE(!hr_class_is_a(cls, cls));
    }
}

static void test_class_set_add_includes_subclasses(void)
{
    hr_class_set set = hr_class_set_add(0, HR_CLASS_CONNECTION_ERROR);
    hr_class_set expected = hr_bit(HR_CLASS_CONNECTION_ERROR) |
                            hr_bit(HR_CLASS_AUTHENTICATION_ERROR) |
                            hr_bit(HR_CLASS_AUTHORIZATION_ERROR) |
                            hr_bit(HR_CLASS_BUSY_LOADING_ERROR) |
                            hr_bit(HR_CLASS_MAX_CONNECTIONS_ERROR);

    HR_ASSERT_UINT_EQ(set, expected);
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_AUTHENTICATION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_TIMEOUT_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_VALKEY_ERROR));
}

static void test_class_set_remove_subclass(void)
{
    hr_class_set set = hr_class_set_add(0, HR_CLASS_CONNECTION_ERROR);
    hr_class_set expected = hr_bit(HR_CLASS_CONNECTION_ERROR) |
                            hr_bit(HR_CLASS_AUTHORIZATION_ERROR) |
                            hr_bit(HR_CLASS_BUSY_LOADING_ERROR) |
                            hr_bit(HR_CLASS_MAX_CONNECTIONS_ERROR);

    set = hr_class_set_remove(set, HR_CLASS_AUTHENTICATION_ERROR);
    HR_ASSERT_UINT_EQ(set, expected);
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_AUTHENTICATION_ERROR));
}

static void test_class_set_add_second_parent(void)
{
    hr_class_set set = hr_class_set_add(0, HR_CLASS_CLUSTER_ERROR);
    hr_class_set expected = hr_bit(HR_CLASS_CLUSTER_ERROR) |
                            hr_bit(HR_CLASS_CLUSTER_DOWN_ERROR) |
                            hr_bit(HR_CLASS_MASTER_DOWN_ERROR);

    HR_ASSERT_UINT_EQ(set, expected);
}

static void test_class_set_add_root(void)
{
    hr_class_set all = ((hr_class_set)1 << HR_CLASS_COUNT) - 1;
    hr_class_set outside = hr_bit(HR_CLASS_CHILD_DEADLOCKED_ERROR) |
                           hr_bit(HR_CLASS_VALKEY_CLUSTER_EXCEPTION) |
                           hr_bit(HR_CLASS_SLOT_NOT_COVERED_ERROR);

    HR_ASSERT_UINT_EQ(hr_class_set_add(0, HR_CLASS_VALKEY_ERROR),
                      all & ~outside);
}

static void test_class_set_remove_shared_subclass(void)
{
    hr_class_set set = hr_class_set_add(0, HR_CLASS_VALKEY_ERROR);
    hr_class_set removed =
        hr_bit(HR_CLASS_RESPONSE_ERROR) | hr_bit(HR_CLASS_NO_SCRIPT_ERROR) |
        hr_bit(HR_CLASS_OUT_OF_MEMORY_ERROR) |
        hr_bit(HR_CLASS_EXEC_ABORT_ERROR) | hr_bit(HR_CLASS_READ_ONLY_ERROR) |
        hr_bit(HR_CLASS_NO_PERMISSION_ERROR) | hr_bit(HR_CLASS_MODULE_ERROR) |
        hr_bit(HR_CLASS_AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR) |
        hr_bit(HR_CLASS_ASK_ERROR) | hr_bit(HR_CLASS_MOVED_ERROR) |
        hr_bit(HR_CLASS_TRY_AGAIN_ERROR) |
        hr_bit(HR_CLASS_CLUSTER_CROSS_SLOT_ERROR) |
        hr_bit(HR_CLASS_CLUSTER_DOWN_ERROR) |
        hr_bit(HR_CLASS_MASTER_DOWN_ERROR);
    hr_class_set expected = set & ~removed;

    /* ClusterDownError is also a ClusterError, but removing ResponseError
     * removes it all the same. */
    set = hr_class_set_remove(set, HR_CLASS_RESPONSE_ERROR);
    HR_ASSERT_UINT_EQ(set, expected);
    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_CLUSTER_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CLUSTER_DOWN_ERROR));
}

static void test_class_set_contains_member_only(void)
{
    hr_class_set set = hr_bit(HR_CLASS_AUTHENTICATION_ERROR);

    HR_ASSERT_TRUE(hr_class_set_contains(set, HR_CLASS_AUTHENTICATION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(set, HR_CLASS_CONNECTION_ERROR));
    HR_ASSERT_TRUE(!hr_class_set_contains(0, HR_CLASS_VALKEY_ERROR));
}

static void test_class_set_invalid_class(void)
{
    hr_class_set some = hr_bit(HR_CLASS_TIMEOUT_ERROR);
    size_t i;

    for (i = 0; i < HR_INVALID_COUNT; i++) {
        hr_class cls = (hr_class)hr_invalid_classes[i];

        HR_ASSERT_UINT_EQ(hr_class_set_add(some, cls), some);
        HR_ASSERT_UINT_EQ(hr_class_set_remove(some, cls), some);
        HR_ASSERT_TRUE(!hr_class_set_contains(UINT64_MAX, cls));
    }
}

static CU_TestInfo tests[] = {
    {"test_class_table_matches_valkey_py", test_class_table_matches_valkey_py},
    {"test_class_name_round_trip", test_class_name_round_trip},
    {"test_class_name_invalid_is_null", test_class_name_invalid_is_null},
    {"test_class_from_name_near_misses", test_class_from_name_near_misses},
    {"test_class_from_name_reads_len_bytes",
     test_class_from_name_reads_len_bytes},
    {"test_class_parent_table", test_class_parent_table},
    {"test_class_parent_of_invalid_class", test_class_parent_of_invalid_class},
    {"test_class_is_a_whole_table", test_class_is_a_whole_table},
    {"test_class_is_a_invalid_class", test_class_is_a_invalid_class},
    {"test_class_set_add_includes_subclasses",
     test_class_set_add_includes_subclasses},
    {"test_class_set_remove_subclass", test_class_set_remove_subclass},
    {"test_class_set_add_second_parent", test_class_set_add_second_parent},
    {"test_class_set_add_root", test_class_set_add_root},
    {"test_class_set_remove_shared_subclass",
     test_class_set_remove_shared_subclass},
    {"test_class_set_contains_member_only",
     test_class_set_contains_member_only},
    {"test_class_set_invalid_class", test_class_set_invalid_class},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return hr_test_run("errors", tests);
}
