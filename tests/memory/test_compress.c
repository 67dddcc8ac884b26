/* The codecs of the compressed memory tier (hal/compress.c), compiled in:
 * round trips bit-exact for each codec on f32, bf16, int8, all-zero and
 * random bytes (sizes that end mid-chunk too), chunks that do not compress
 * stored raw, and every kind of damage to the stored data caught as
 * AIDEV_ERROR_IO. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <aidev/aidev.h>

#include "hal/compress.h"

static const aidev_codec codecs[] = {AIDEV_CODEC_OFF, AIDEV_CODEC_LZ4, AIDEV_CODEC_ZSTD};
#define CODEC_COUNT 3

/* xorshift64: the same data on every run. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float rng_normal(uint64_t *s)
{
    double u1 = ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef enum data_kind { DATA_F32, DATA_BF16, DATA_I8, DATA_ZERO, DATA_RANDOM } data_kind;

/* |size| bytes of the kind, and its element size. */
static uint8_t *make_data(data_kind kind, size_t size, uint32_t *element_size)
{
    uint8_t *p = malloc(size);
    ck_assert_ptr_nonnull(p);
    uint64_t s = 0x9E3779B97F4A7C15ull + (uint64_t)kind;
    *element_size = 1;
    switch (kind) {
    case DATA_F32:
        *element_size = 4;
        for (size_t i = 0; i < size / 4; i++) {
            float f = rng_normal(&s) * 0.02f;
            memcpy(p + i * 4, &f, 4);
        }
        break;
    case DATA_BF16:
        *element_size = 2;
        for (size_t i = 0; i < size / 2; i++) {
            float f = rng_normal(&s);
            uint32_t u;
            memcpy(&u, &f, 4);
            uint16_t h = (uint16_t)(u >> 16);
            memcpy(p + i * 2, &h, 2);
        }
        break;
    case DATA_I8:
        for (size_t i = 0; i < size; i++) {
            float f = rng_normal(&s) * 20.0f;
            p[i] = (uint8_t)(int8_t)(f > 127 ? 127 : f < -127 ? -127 : f);
        }
        break;
    case DATA_ZERO:
        *element_size = 4;
        memset(p, 0, size);
        break;
    case DATA_RANDOM:
        for (size_t i = 0; i < size; i++)
            p[i] = (uint8_t)(rng_next(&s) >> 56);
        break;
    }
    return p;
}

static const char *const data_names[] = {"f32", "bf16", "int8", "all-zero", "random"};

/* Every codec and data kind, at a size that ends mid-chunk. */
START_TEST(round_trip)
{
    data_kind kind = (data_kind)_i;
    const size_t size = 3 * AIDEV_COMPRESS_CHUNK + 4096 + 12;
    uint32_t es;
    uint8_t *src = make_data(kind, size, &es);
    uint8_t *back = malloc(size);
    ck_assert_ptr_nonnull(back);
    for (int c = 0; c < CODEC_COUNT; c++) {
        if (!aidev_codec_available(codecs[c]))
            continue;
        aidev_compressed *z;
        aidev_status st = aidev_compress(src, size, es, codecs[c], 2, NULL, &z);
        ck_assert_msg(st == AIDEV_SUCCESS, "%s %s: %s", aidev_codec_name(codecs[c]),
                      data_names[kind], aidev_last_error());
        ck_assert_uint_eq(z->size, size);
        ck_assert_uint_eq(z->chunk_count, 4);
        memset(back, 0xA5, size);
        st = aidev_decompress(z, back, 2);
        ck_assert_msg(st == AIDEV_SUCCESS, "%s", aidev_last_error());
        ck_assert_msg(memcmp(src, back, size) == 0, "%s %s: not bit-exact",
                      aidev_codec_name(codecs[c]), data_names[kind]);
        /* What must compress does; what cannot is stored raw, no bigger. */
        if (codecs[c] == AIDEV_CODEC_OFF || kind == DATA_RANDOM) {
            for (uint32_t i = 0; i < z->chunk_count; i++)
                ck_assert(z->chunks[i].raw);
            ck_assert_uint_eq(z->stored_bytes, size);
        } else if (kind == DATA_ZERO) {
            ck_assert_uint_lt(z->stored_bytes, size / 100);
        } else if ((kind == DATA_BF16 || kind == DATA_I8) && codecs[c] == AIDEV_CODEC_ZSTD) {
            /* Entropy coding: zstd gains on narrow-valued bytes where
             * LZ4, which only finds repeats, may not. */
            ck_assert_msg(z->stored_bytes < size * 9 / 10, "%s %s: %llu of %zu bytes",
                          aidev_codec_name(codecs[c]), data_names[kind],
                          (unsigned long long)z->stored_bytes, size);
        } else {
            ck_assert_uint_le(z->stored_bytes, size);
        }
        aidev_compressed_free(z, false);
    }
    free(back);
    free(src);
}
END_TEST

/* One thread or many: the same stored bytes. */
START_TEST(threads_agree)
{
    const size_t size = 5 * AIDEV_COMPRESS_CHUNK;
    uint32_t es;
    uint8_t *src = make_data(DATA_BF16, size, &es);
    for (int c = 1; c < CODEC_COUNT; c++) {
        if (!aidev_codec_available(codecs[c]))
            continue;
        aidev_compressed *one, *many;
        ck_assert_int_eq(aidev_compress(src, size, es, codecs[c], 1, NULL, &one),
                         AIDEV_SUCCESS);
        ck_assert_int_eq(aidev_compress(src, size, es, codecs[c], 4, NULL, &many),
                         AIDEV_SUCCESS);
        ck_assert_uint_eq(one->stored_bytes, many->stored_bytes);
        for (uint32_t i = 0; i < one->chunk_count; i++) {
            ck_assert_uint_eq(one->chunks[i].stored, many->chunks[i].stored);
            ck_assert_int_eq(memcmp(one->chunks[i].data, many->chunks[i].data,
                                    one->chunks[i].stored), 0);
        }
        aidev_compressed_free(one, true);
        aidev_compressed_free(many, false);
    }
    free(src);
}
END_TEST

/* Damage of each kind: a flipped bit in compressed data, in raw data, a
 * wrong checksum, a truncated chunk. Each is AIDEV_ERROR_IO naming the
 * chunk. */
static void expect_io_error(aidev_compressed *z, uint8_t *back, uint32_t chunk)
{
    aidev_status st = aidev_decompress(z, back, 2);
    ck_assert_int_eq(st, AIDEV_ERROR_IO);
    char want[32];
    snprintf(want, sizeof want, "chunk %u of", chunk);
    ck_assert_msg(strstr(aidev_last_error(), want), "message: %s", aidev_last_error());
}

START_TEST(corruption_detected)
{
    const size_t size = 2 * AIDEV_COMPRESS_CHUNK;
    for (int c = 0; c < CODEC_COUNT; c++) {
        if (!aidev_codec_available(codecs[c]))
            continue;
        uint32_t es;
        uint8_t *src = make_data(DATA_F32, size, &es);
        uint8_t *back = malloc(size);
        aidev_compressed *z;
        ck_assert_int_eq(aidev_compress(src, size, es, codecs[c], 2, NULL, &z), AIDEV_SUCCESS);
        aidev_compressed_chunk *ch = &z->chunks[1];
        /* A bit flipped in the middle of the stored bytes. */
        ((uint8_t *)ch->data)[ch->stored / 2] ^= 0x10;
        expect_io_error(z, back, 1);
        ((uint8_t *)ch->data)[ch->stored / 2] ^= 0x10;
        ck_assert_int_eq(aidev_decompress(z, back, 2), AIDEV_SUCCESS);
        /* The checksum itself wrong. */
        z->chunks[0].checksum ^= 1;
        expect_io_error(z, back, 0);
        z->chunks[0].checksum ^= 1;
        /* A chunk cut short. */
        uint32_t stored = ch->stored;
        ch->stored = stored / 2;
        expect_io_error(z, back, 1);
        ch->stored = stored;
        ck_assert_int_eq(aidev_decompress(z, back, 2), AIDEV_SUCCESS);
        ck_assert_int_eq(memcmp(src, back, size), 0);
        aidev_compressed_free(z, false);
        free(back);
        free(src);
    }
}
END_TEST

/* Blocks freed into a pool are what the next compression writes into,
 * and the data still comes back bit for bit. Random data is stored raw,
 * so 20 chunks fill a full block and part of a second, which is trimmed
 * and not kept. */
START_TEST(pool_reuses_blocks)
{
    const size_t size = 20 * AIDEV_COMPRESS_CHUNK;
    uint32_t es;
    uint8_t *src = make_data(DATA_RANDOM, size, &es);
    uint8_t *back = malloc(size);
    ck_assert_ptr_nonnull(back);
    aidev_tier_pool pool;
    aidev_tier_pool_init(&pool);
    aidev_compressed *z;
    ck_assert_int_eq(aidev_compress(src, size, es, AIDEV_CODEC_OFF, 1, &pool, &z), AIDEV_SUCCESS);
    ck_assert_uint_eq(z->block_count, 2);
    void *full = z->blocks[0].ptr;
    aidev_compressed_free(z, true);
    ck_assert_uint_eq(pool.count, 1);
    ck_assert_int_eq(aidev_compress(src, size, es, AIDEV_CODEC_OFF, 1, &pool, &z), AIDEV_SUCCESS);
    ck_assert_uint_eq(pool.count, 0);
    ck_assert_ptr_eq(z->blocks[0].ptr, full);
    ck_assert_ptr_eq(z->chunks[0].data, full);
    ck_assert_int_eq(aidev_decompress(z, back, 2), AIDEV_SUCCESS);
    ck_assert_int_eq(memcmp(src, back, size), 0);
    aidev_compressed_free(z, false);
    aidev_tier_pool_fini(&pool);
    free(back);
    free(src);
}
END_TEST

START_TEST(bad_arguments)
{
    uint8_t buf[12] = {0};
    aidev_compressed *z = (aidev_compressed *)buf;
    ck_assert_int_eq(aidev_compress(buf, 10, 4, AIDEV_CODEC_LZ4, 1, NULL, &z),
                     AIDEV_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_null(z);
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "element_size: 4"));
    ck_assert_int_eq(aidev_compress(buf, 12, 3, AIDEV_CODEC_LZ4, 1, NULL, &z),
                     AIDEV_ERROR_INVALID_ARGUMENT);
    /* A small buffer: one short chunk. */
    ck_assert_int_eq(aidev_compress(buf, 12, 4, AIDEV_CODEC_OFF, 1, NULL, &z), AIDEV_SUCCESS);
    ck_assert_uint_eq(z->chunk_count, 1);
    uint8_t back[12];
    ck_assert_int_eq(aidev_decompress(z, back, 1), AIDEV_SUCCESS);
    ck_assert_int_eq(memcmp(buf, back, 12), 0);
    aidev_compressed_free(z, false);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("codecs");
    tcase_set_timeout(tc, 240);
    if (!aidev_compress_available()) {
        printf("no xxHash in this build: no compressed tier to test\n");
        return 77;
    }
    tcase_add_loop_test(tc, round_trip, DATA_F32, DATA_RANDOM + 1);
    tcase_add_test(tc, threads_agree);
    tcase_add_test(tc, corruption_detected);
    tcase_add_test(tc, pool_reuses_blocks);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
