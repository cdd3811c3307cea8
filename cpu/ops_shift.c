/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

void ops_shift_register(void)
{
}
