/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

void ops_bit_register(void)
{
}
