/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

void ops_string_register(void)
{
}
