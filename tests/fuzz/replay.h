/* SPDX-License-Identifier: MIT */
/* What a fuzz target gives the regression driver (tests/fuzz/replay.c). */
#ifndef SOFTKVM_FUZZ_REPLAY_H
#define SOFTKVM_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FUZZ_RANDOM_MAX 4096

/* the k-th pseudo-random input of the stream seeded by *seed; its length */
size_t fuzz_random_input(uint64_t *seed, unsigned long k, uint8_t *buf, size_t cap);
/* what the target counted so far */
void fuzz_stats(FILE *f);

#endif
