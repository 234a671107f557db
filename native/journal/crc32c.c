/* crc32c.c - CRC32C for the journal: the SSE4.2 crc32 instruction, eight
 * bytes at a time, when the CPU has it; a byte-wise table otherwise. */
#include <pthread.h>
#include <string.h>

#include "journal/journal_format.h"

static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t wm_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_once(&crc_table_once, crc_table_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

__attribute__((target("sse4.2"))) uint32_t wm_crc32c_sse42(uint32_t crc, const void *buf,
                                                            size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

int wm_crc32c_have_sse42(void)
{
    return __builtin_cpu_supports("sse4.2");
}

uint32_t wm_crc32c(uint32_t crc, const void *buf, size_t len)
{
    static int have = -1;
    int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (h < 0) {
        h = wm_crc32c_have_sse42();
        __atomic_store_n(&have, h, __ATOMIC_RELAXED);
    }
    return h ? wm_crc32c_sse42(crc, buf, len) : wm_crc32c_table(crc, buf, len);
}
