/*
 * valkey-py's error classes: names, parents, the is-a relation and class
 * sets, all derived from HR_CLASS_TABLE.
 */
#include "hiretry/errors.h"

#include <string.h>

/* hr_class_set has one bit per class. */
_Static_assert(HR_CLASS_COUNT <= 64, "hr_class_set has only 64 bits");

typedef struct hr_class_info {
    const char *name;
    size_t name_len;
    hr_class parents[2];
} hr_class_info;

#define HR_CLASS_INFO_ROW(id, name, parent, second_parent)                     \
    [HR_CLASS_##id] = {name,                                                   \
                       sizeof(name) - 1,                                       \
                       {HR_CLASS_##parent, HR_CLASS_##second_parent}},

static const hr_class_info hr_classes[HR_CLASS_COUNT] = {
    HR_CLASS_TABLE(HR_CLASS_INFO_ROW)};

#undef HR_CLASS_INFO_ROW

static bool hr_class_valid(hr_class cls)
{
    return (int)cls >= 0 && (int)cls < HR_CLASS_COUNT;
}

static hr_class_set hr_class_bit(hr_class cls)
{
    return (hr_class_set)1 << cls;
}

const char *hr_class_name(hr_class cls)
{
    if (!hr_class_valid(cls))
        return NULL;
    return hr_classes[cls].name;
}

int hr_class_from_name(const char *name, size_t len, hr_class *out)
{
    int i;

    if (name == NULL)
        return -1;

    for (i = 0; i < HR_CLASS_COUNT; i++) {
        const hr_class_info *info = &hr_classes[i];

        if (info->name_len == len && memcmp(info->name, name, len) == 0) {
            if (out != NULL)
                *out = (hr_class)i;
            return 0;
        }
    }
    return -1;
}

hr_class hr_class_parent(hr_class cls, int index)
{
    if (!hr_class_valid(cls) || index < 0 || index > 1)
        return HR_CLASS_NONE;
    return hr_classes[cls].parents[index];
}

/*
 * Walks the parents of a valid cls. depth bounds the walk, so a cycle added
 * to the table by mistake ends instead of recursing forever. An acyclic chain
 * has at most HR_CLASS_COUNT - 1 links.
 */
static bool hr_class_descends(hr_class cls, hr_class ancestor, int depth)
{
    int i;

    if (cls == ancestor)
        return true;
    if (depth == 0)
        return false;

    for (i = 0; i < 2; i++) {
        hr_class parent = hr_classes[cls].parents[i];

        if (parent != HR_CLASS_NONE &&
            hr_class_descends(parent, ancestor, depth - 1))
            return true;
    }
    return false;
}

bool hr_class_is_a(hr_class cls, hr_class ancestor)
{
    if (!hr_class_valid(cls) || !hr_class_valid(ancestor))
        return false;
    return hr_class_descends(cls, ancestor, HR_CLASS_COUNT);
}

/* Returns the set of cls and every class that is-a cls. */
static hr_class_set hr_class_descendants(hr_class cls)
{
    hr_class_set descendants = 0;
    int i;

    for (i = 0; i < HR_CLASS_COUNT; i++) {
        if (hr_class_is_a((hr_class)i, cls))
            descendants |= hr_class_bit((hr_class)i);
    }
    return descendants;
}

hr_class_set hr_class_set_add(hr_class_set set, hr_class cls)
{
    return set | hr_class_descendants(cls);
}

hr_class_set hr_class_set_remove(hr_class_set set, hr_class cls)
{
    return set & ~hr_class_descendants(cls);
}

bool hr_class_set_contains(hr_class_set set, hr_class cls)
{
    if (!hr_class_valid(cls))
        return false;
    return (set & hr_class_bit(cls)) != 0;
}
