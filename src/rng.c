/*
 * rng.c - SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
 * Exact definitions in docs/CORE.md "RNG"; tools/flexor_ref.py implements the same stream in Python.
 */
#include "flexor.h"
#include <math.h>

void fx_rng_seed(fx_rng *r, uint64_t seed) { r->state = seed; }

uint64_t fx_rng_next(fx_rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t fx_rng_u32(fx_rng *r) { return (uint32_t)(fx_rng_next(r) >> 32); }

uint32_t fx_rng_below(fx_rng *r, uint32_t n) { return (uint32_t)(((uint64_t)fx_rng_u32(r) * n) >> 32); }

float fx_rng_uniform(fx_rng *r) { return (float)(fx_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float fx_rng_normal(fx_rng *r) {
    double u1 = (double)((fx_rng_next(r) >> 40) + 1) * (1.0 / 16777216.0);
    double u2 = (double)(fx_rng_next(r) >> 40) * (1.0 / 16777216.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
