/* fuzz_journal.c - libFuzzer target: journal recovery over arbitrary bytes.
 *
 * Input: one flags byte, then a journal file image.
 *   bit 0  scan it as the last file (a torn tail is cut, not an error)
 *   bit 1  make the CRCs right first (file header, and every record the
 *          lengths lead to), so mutations reach the length, type, sequence,
 *          trailing-data and resynchronisation logic instead of stopping at
 *          the first CRC
 *   bit 2  also write it as the only file of a directory and run the
 *          directory reader, cutting a torn tail
 * Oracles: no crash or sanitizer report; the report stays inside the image;
 * a clean scan leaves only zeros after the last record; after a cut the
 * directory scans clean with the same records. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/journal_format.h"
#include "wirematch/journal.h"

static char dir[64];

static void fix_crcs(uint8_t *img, size_t size)
{
    if (size < WM_JOURNAL_FILE_HEADER)
        return;
    struct wm_journal_file_header h;
    memcpy(&h, img, sizeof(h));
    h.file_size = size;   /* a cut restores this size: keep it the image's */
    h.crc = wm_journal_file_header_crc(&h);
    memcpy(img, &h, sizeof(h));
    uint64_t off = WM_JOURNAL_FILE_HEADER;
    while (size - off >= WM_JOURNAL_RECORD_HEADER) {
        struct wm_journal_record_header r;
        memcpy(&r, img + off, sizeof(r));
        uint64_t rs = wm_journal_record_size(r.len);
        if (rs > size - off)
            break;
        uint32_t crc = wm_journal_record_crc(img + off, rs);
        memcpy(img + off, &crc, sizeof(crc));
        off += rs;
    }
}

static void check_report(const struct wm_journal_recovery *rep, size_t size)
{
    if (rep->append_offset > size || rep->bad_offset > size ||
        rep->bad_offset + rep->cut_bytes > size)
        abort();
    if (rep->records && rep->last_seq - rep->first_seq + 1 != rep->records)
        abort();
    if (rep->records * WM_JOURNAL_RECORD_HEADER > size)
        abort();
}

static void directory_round(const uint8_t *img, size_t size)
{
    struct wm_journal_file_header h;
    if (size < WM_JOURNAL_FILE_HEADER)
        return;
    memcpy(&h, img, sizeof(h));
    if (h.file_size > size + (1u << 20))
        return;   /* a cut would preallocate that much */
    char name[WM_JOURNAL_NAME_LEN + 1], path[128];
    wm_journal_file_name(name, h.first_seq ? h.first_seq : 1);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        abort();
    if (write(fd, img, size) != (ssize_t)size)
        abort();
    close(fd);
    struct wm_journal_recovery rep, again;
    int r = wm_journal_recover(dir, 1, &rep);
    if (r == 0) {
        check_report(&rep, size);
        if (rep.torn && !rep.truncated)
            abort();
        if (wm_journal_recover(dir, 0, &again) != 0 || again.torn ||
            again.records != rep.records || again.last_seq != rep.last_seq)
            abort();
    } else if (r != -EBADMSG) {
        abort();
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/wm-fuzz-journal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size--;
    /* An exact-size heap copy, so ASan sees any overread. */
    uint8_t *img = malloc(size ? size : 1);
    if (!img)
        return 0;
    memcpy(img, data + 1, size);
    if (flags & 2)
        fix_crcs(img, size);
    struct wm_journal_recovery rep;
    int r = wm_journal_scan_image(img, size, flags & 1, &rep);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0) {
        check_report(&rep, size);
        if (!rep.torn)
            for (uint64_t i = rep.append_offset; i < size; i++)
                if (img[i])
                    abort();
    }
    if (flags & 4)
        directory_round(img, size);
    free(img);
    return 0;
}
