/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

void ops_fpu_register(void)
{
}
