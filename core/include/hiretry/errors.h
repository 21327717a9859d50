/*
 * Error classes of valkey-py, the Python client of the Valkey project.
 *
 * hiretry names every failure with the class valkey-py would raise for it, so
 * that operators can use the same names in HIRETRY_RETRY_ON and read them in
 * logs. HR_CLASS_TABLE is the single source of truth: the enum, the names,
 * the is-a relation and the class sets are all derived from it.
 */
#ifndef HIRETRY_ERRORS_H
#define HIRETRY_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * X(ID, "Name", PARENT, SECOND_PARENT): one row per class. NONE marks a
 * missing parent. valkey-py 6.x has exactly one class with two parents,
 * ClusterDownError (ResponseError and ClusterError).
 */
#define HR_CLASS_TABLE(X)                                                      \
    X(VALKEY_ERROR, "ValkeyError", NONE, NONE)                                 \
    X(CONNECTION_ERROR, "ConnectionError", VALKEY_ERROR, NONE)                 \
    X(AUTHENTICATION_ERROR, "AuthenticationError", CONNECTION_ERROR, NONE)     \
    X(AUTHORIZATION_ERROR, "AuthorizationError", CONNECTION_ERROR, NONE)       \
    X(BUSY_LOADING_ERROR, "BusyLoadingError", CONNECTION_ERROR, NONE)          \
    X(MAX_CONNECTIONS_ERROR, "MaxConnectionsError", CONNECTION_ERROR, NONE)    \
    X(TIMEOUT_ERROR, "TimeoutError", VALKEY_ERROR, NONE)                       \
    X(INVALID_RESPONSE, "InvalidResponse", VALKEY_ERROR, NONE)                 \
    X(RESPONSE_ERROR, "ResponseError", VALKEY_ERROR, NONE)                     \
    X(NO_SCRIPT_ERROR, "NoScriptError", RESPONSE_ERROR, NONE)                  \
    X(OUT_OF_MEMORY_ERROR, "OutOfMemoryError", RESPONSE_ERROR, NONE)           \
    X(EXEC_ABORT_ERROR, "ExecAbortError", RESPONSE_ERROR, NONE)                \
    X(READ_ONLY_ERROR, "ReadOnlyError", RESPONSE_ERROR, NONE)                  \
    X(NO_PERMISSION_ERROR, "NoPermissionError", RESPONSE_ERROR, NONE)          \
    X(MODULE_ERROR, "ModuleError", RESPONSE_ERROR, NONE)                       \
    X(AUTHENTICATION_WRONG_NUMBER_OF_ARGS_ERROR,                               \
      "AuthenticationWrongNumberOfArgsError", RESPONSE_ERROR, NONE)            \
    X(ASK_ERROR, "AskError", RESPONSE_ERROR, NONE)                             \
    X(MOVED_ERROR, "MovedError", ASK_ERROR, NONE)                              \
    X(TRY_AGAIN_ERROR, "TryAgainError", RESPONSE_ERROR, NONE)                  \
    X(CLUSTER_CROSS_SLOT_ERROR, "ClusterCrossSlotError", RESPONSE_ERROR, NONE) \
    X(CLUSTER_DOWN_ERROR, "ClusterDownError", RESPONSE_ERROR, CLUSTER_ERROR)   \
    X(MASTER_DOWN_ERROR, "MasterDownError", CLUSTER_DOWN_ERROR, NONE)          \
    X(DATA_ERROR, "DataError", VALKEY_ERROR, NONE)                             \
    X(PUB_SUB_ERROR, "PubSubError", VALKEY_ERROR, NONE)                        \
    X(WATCH_ERROR, "WatchError", VALKEY_ERROR, NONE)                           \
    X(CLUSTER_ERROR, "ClusterError", VALKEY_ERROR, NONE)                       \
    X(LOCK_ERROR, "LockError", VALKEY_ERROR, NONE)                             \
    X(LOCK_NOT_OWNED_ERROR, "LockNotOwnedError", LOCK_ERROR, NONE)             \
    X(CHILD_DEADLOCKED_ERROR, "ChildDeadlockedError", NONE, NONE)              \
    X(VALKEY_CLUSTER_EXCEPTION, "ValkeyClusterException", NONE, NONE)          \
    X(SLOT_NOT_COVERED_ERROR, "SlotNotCoveredError",                           \
      VALKEY_CLUSTER_EXCEPTION, NONE)

typedef enum hr_class {
    HR_CLASS_NONE = -1,
#define HR_CLASS_ENUM_ROW(id, name, parent, second_parent) HR_CLASS_##id,
    HR_CLASS_TABLE(HR_CLASS_ENUM_ROW)
#undef HR_CLASS_ENUM_ROW
        HR_CLASS_COUNT
} hr_class;

/* A set of classes, one bit per class. */
typedef uint64_t hr_class_set;

/* Returns the class's exact valkey-py name, or NULL for an invalid class. */
const char *hr_class_name(hr_class cls);

/*
 * Looks up a class by its exact, case-sensitive name of len bytes. Returns 0
 * and stores the class in *out, or -1 when no class has that name.
 */
int hr_class_from_name(const char *name, size_t len, hr_class *out);

/*
 * Returns the index-th direct parent of cls (index 0 or 1), or HR_CLASS_NONE
 * when it has no such parent.
 */
hr_class hr_class_parent(hr_class cls, int index);

/*
 * Returns true when cls is ancestor or descends from it through any chain
 * of parents. Invalid classes are related to nothing.
 */
bool hr_class_is_a(hr_class cls, hr_class ancestor);

/* Returns set plus cls and every class that is-a cls. */
hr_class_set hr_class_set_add(hr_class_set set, hr_class cls);

/* Returns set minus cls and every class that is-a cls. */
hr_class_set hr_class_set_remove(hr_class_set set, hr_class cls);

/* Returns true when cls itself is a member of set. */
bool hr_class_set_contains(hr_class_set set, hr_class cls);

#endif
