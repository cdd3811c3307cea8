/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

void ops_muldiv_register(void)
{
}
