/* SPDX-License-Identifier: MIT */
/*
 * Force-included (gcc -include) into every KVM selftest that
 * scripts/selftests.sh builds. Debian's linux-source-6.1 carries stable
 * backports that do not build as shipped: dirty_log_test.c uses
 * TEST_ASSERT_EQ(), which 6.1's test_util.h lacks, and the uapi
 * <asm/kvm.h> uses __DECLARE_FLEX_ARRAY(), which tools/include's
 * <linux/types.h> does not pull in. Nothing from libc here, so the tests'
 * own #define _GNU_SOURCE still comes first.
 */
#ifndef SOFTKVM_SELFTEST_COMPAT_H
#define SOFTKVM_SELFTEST_COMPAT_H

#ifndef TEST_ASSERT_EQ
#define TEST_ASSERT_EQ(a, b)                                                                       \
	TEST_ASSERT((a) == (b), "%s == %s failed: %#lx != %#lx", #a, #b, (unsigned long)(a),       \
		    (unsigned long)(b))
#endif

/* the uapi header that defines __DECLARE_FLEX_ARRAY; it includes nothing */
#include <linux/stddef.h>

#endif
