/* codec/soup_session.c - the SoupBinTCP server's sessions and connection
 * state machine (rules in soup_session.h). */
#include <errno.h>
#include <string.h>

#include "codec/soup_session.h"

static void count(struct wm_soup_sessions *ss, int idx)
{
    ss->st.counts[idx]++;
}

static void act_clear(struct wm_soup_actions *act)
{
    memset(act, 0, sizeof(*act));
}

/* ---- sessions ---- */

int wm_soup_sessions_init(struct wm_soup_sessions *ss, const struct wm_soup_config *cfg)
{
    if (!ss)
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (cfg)
        ss->cfg = *cfg;
    if (!ss->cfg.heartbeat_ns)
        ss->cfg.heartbeat_ns = WM_SOUP_DEFAULT_HEARTBEAT_NS;
    if (!ss->cfg.client_timeout_ns)
        ss->cfg.client_timeout_ns = WM_SOUP_DEFAULT_CLIENT_TIMEOUT_NS;
    if (!ss->cfg.login_timeout_ns)
        ss->cfg.login_timeout_ns = ss->cfg.client_timeout_ns;
    if (!ss->cfg.output_bound)
        ss->cfg.output_bound = WM_SOUP_DEFAULT_OUTPUT_BOUND;
    return 0;
}

/* s (printable, 1..w characters, not blank) left-justified into dst[w]. */
static int alpha_field(char *dst, const char *s, unsigned w)
{
    if (!s)
        return -EINVAL;
    size_t n = strnlen(s, w + 1);
    if (n == 0 || n > w)
        return -EINVAL;
    int blank = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return -EINVAL;
        blank &= s[i] == ' ';
    }
    if (blank)
        return -EINVAL;
    char tmp[16];
    memset(tmp, ' ', w);
    memcpy(tmp, s, n);
    /* Stored without padding on either side, like a received field is
     * compared (wm_soup_alpha_equal). */
    memset(dst, ' ', w);
    unsigned a = 0, b = w;
    while (a < b && tmp[a] == ' ')
        a++;
    while (b > a && tmp[b - 1] == ' ')
        b--;
    memcpy(dst, tmp + a, b - a);
    return 0;
}

int wm_soup_sessions_add(struct wm_soup_sessions *ss, const char *name, const char *username,
                         const char *password)
{
    struct wm_soup_session s;
    memset(&s, 0, sizeof(s));
    if (!ss || alpha_field(s.name, name, WM_SOUP_SESSION_LEN) ||
        alpha_field(s.username, username, WM_SOUP_USERNAME_LEN) ||
        alpha_field(s.password, password, WM_SOUP_PASSWORD_LEN))
        return -EINVAL;
    for (uint32_t i = 0; i < ss->n; i++)
        if (!memcmp(ss->s[i].name, s.name, WM_SOUP_SESSION_LEN) ||
            !memcmp(ss->s[i].username, s.username, WM_SOUP_USERNAME_LEN))
            return -EEXIST;
    if (ss->n >= WM_SOUP_MAX_SESSIONS)
        return -ENOSPC;
    s.next_seq = 1;
    s.first_seq = 1;
    ss->s[ss->n] = s;
    return (int)ss->n++;
}

int wm_soup_sessions_find(const struct wm_soup_sessions *ss, const char *name)
{
    char n[WM_SOUP_SESSION_LEN];
    if (!ss || alpha_field(n, name, WM_SOUP_SESSION_LEN))
        return -ENOENT;
    for (uint32_t i = 0; i < ss->n; i++)
        if (!memcmp(ss->s[i].name, n, WM_SOUP_SESSION_LEN))
            return (int)i;
    return -ENOENT;
}

uint64_t wm_soup_session_append(struct wm_soup_sessions *ss, uint32_t session)
{
    return ss->s[session].next_seq++;
}

void wm_soup_session_retain_from(struct wm_soup_sessions *ss, uint32_t session, uint64_t first)
{
    struct wm_soup_session *s = &ss->s[session];
    if (first > s->next_seq)
        first = s->next_seq;
    if (first > s->first_seq)
        s->first_seq = first;
}

void wm_soup_sessions_end(struct wm_soup_sessions *ss)
{
    ss->ended = 1;
}

/* ---- connections ---- */

void wm_soup_conn_open(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint32_t id,
                       uint64_t now)
{
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->state = WM_SOUP_AWAITING_LOGIN;
    c->opened_ns = now;
    c->last_in_ns = now;
    c->last_out_ns = now;
    count(ss, WM_SOUP_CONNECTIONS);
}

static void close_conn(struct wm_soup_sessions *ss, struct wm_soup_conn *c, int reason,
                       struct wm_soup_actions *act)
{
    if (c->state == WM_SOUP_CLOSED)
        return;
    if (c->state == WM_SOUP_ACTIVE && ss->s[c->session].conn == c->id + 1)
        ss->s[c->session].conn = 0;
    c->state = WM_SOUP_CLOSED;
    c->close_reason = (uint8_t)reason;
    count(ss, reason);
    act->todo |= WM_SOUP_DO_CLOSE;
    act->close_reason = (uint8_t)reason;
}

void wm_soup_conn_close(struct wm_soup_sessions *ss, struct wm_soup_conn *c, int reason,
                        struct wm_soup_actions *act)
{
    act_clear(act);
    if (reason <= WM_SOUP_OK || reason >= WM_SOUP_N_COUNTERS)
        reason = WM_SOUP_CLOSE_PEER_CLOSED;
    close_conn(ss, c, reason, act);
}

static void reject(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint8_t code, int why,
                   struct wm_soup_actions *act)
{
    count(ss, why);
    act->todo |= WM_SOUP_DO_SEND_LOGIN_REJECTED;
    act->reject_code = code;
    close_conn(ss, c, WM_SOUP_CLOSE_LOGIN_REJECTED, act);
}

static void login(struct wm_soup_sessions *ss, struct wm_soup_conn *c,
                  uint64_t now, const struct wm_soup_packet *pkt, struct wm_soup_actions *act)
{
    struct wm_soup_login req;
    int r = wm_soup_decode_login(pkt, &req);
    if (r) {
        close_conn(ss, c, r, act);
        return;
    }
    if (ss->ended) {
        reject(ss, c, WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE, WM_SOUP_REJECT_SESSION_ENDED, act);
        return;
    }
    /* Every session's credentials are compared, so the time taken does not
     * say which username exists. */
    int found = -1;
    for (uint32_t i = 0; i < ss->n; i++) {
        int user = wm_soup_alpha_equal(ss->s[i].username, WM_SOUP_USERNAME_LEN, req.username,
                                       WM_SOUP_USERNAME_LEN);
        int pass = wm_soup_alpha_equal(ss->s[i].password, WM_SOUP_PASSWORD_LEN, req.password,
                                       WM_SOUP_PASSWORD_LEN);
        if (user & pass)
            found = (int)i;
    }
    if (found < 0) {
        reject(ss, c, WM_SOUP_REJECT_NOT_AUTHORIZED_CODE, WM_SOUP_REJECT_NOT_AUTHORIZED, act);
        return;
    }
    struct wm_soup_session *s = &ss->s[found];
    static const char blank[WM_SOUP_SESSION_LEN] = "          ";
    if (!wm_soup_alpha_equal(req.session, WM_SOUP_SESSION_LEN, blank, WM_SOUP_SESSION_LEN) &&
        !wm_soup_alpha_equal(req.session, WM_SOUP_SESSION_LEN, s->name, WM_SOUP_SESSION_LEN)) {
        reject(ss, c, WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE, WM_SOUP_REJECT_UNKNOWN_SESSION, act);
        return;
    }
    if (s->conn) {
        reject(ss, c, WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE, WM_SOUP_REJECT_ALREADY_LOGGED_IN,
               act);
        return;
    }
    uint64_t start = req.seq;
    if (start == 0) {
        start = s->next_seq;
    } else if (start > s->next_seq) {
        count(ss, WM_SOUP_LOGINS_SEQ_BEYOND_END);
        start = s->next_seq;
    } else if (start < s->first_seq) {
        reject(ss, c, WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE, WM_SOUP_REJECT_SEQ_NOT_RETAINED,
               act);
        return;
    }
    s->conn = c->id + 1;
    c->state = WM_SOUP_ACTIVE;
    c->session = (uint32_t)found;
    c->next_seq = start;
    c->replay_end = s->next_seq;
    c->accepted_ns = now;
    count(ss, WM_SOUP_LOGINS_ACCEPTED);
    act->todo |= WM_SOUP_DO_SEND_LOGIN_ACCEPTED;
    act->session = (uint32_t)found;
    act->seq = start;
}

void wm_soup_conn_packet(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                         const struct wm_soup_packet *pkt, struct wm_soup_actions *act)
{
    act_clear(act);
    if (c->state == WM_SOUP_CLOSED)
        return;
    count(ss, WM_SOUP_PACKETS_IN);
    c->last_in_ns = now;
    int active = c->state == WM_SOUP_ACTIVE;
    switch (pkt->type) {
    case WM_SOUP_LOGIN_REQUEST:
        if (active)
            close_conn(ss, c, WM_SOUP_CLOSE_LOGIN_WHILE_LOGGED_IN, act);
        else
            login(ss, c, now, pkt, act);
        break;
    case WM_SOUP_UNSEQUENCED:
        if (!active) {
            close_conn(ss, c, WM_SOUP_CLOSE_DATA_BEFORE_LOGIN, act);
            break;
        }
        count(ss, WM_SOUP_UNSEQUENCED_IN);
        act->todo |= WM_SOUP_DO_DELIVER;
        act->session = c->session;
        act->data = pkt->payload;
        act->len = pkt->len;
        break;
    case WM_SOUP_CLIENT_HEARTBEAT:
        count(ss, WM_SOUP_CLIENT_HEARTBEATS_IN);
        break;
    case WM_SOUP_DEBUG:
        count(ss, WM_SOUP_DEBUG_IN);
        break;
    case WM_SOUP_LOGOUT_REQUEST:
        close_conn(ss, c, WM_SOUP_CLOSE_LOGOUT, act);
        break;
    default:
        /* The server's parser passes only client packet types. */
        close_conn(ss, c, WM_SOUP_CLOSE_UNKNOWN_TYPE, act);
        break;
    }
}

void wm_soup_conn_tick(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                       struct wm_soup_actions *act)
{
    act_clear(act);
    if (c->state == WM_SOUP_AWAITING_LOGIN) {
        if (now - c->opened_ns > ss->cfg.login_timeout_ns)
            close_conn(ss, c, WM_SOUP_CLOSE_LOGIN_TIMEOUT, act);
        return;
    }
    if (c->state != WM_SOUP_ACTIVE)
        return;
    if (now - c->last_in_ns > ss->cfg.client_timeout_ns) {
        close_conn(ss, c, WM_SOUP_CLOSE_CLIENT_TIMEOUT, act);
        return;
    }
    if (now - c->last_out_ns >= ss->cfg.heartbeat_ns) {
        count(ss, WM_SOUP_SERVER_HEARTBEATS_OUT);
        act->todo |= WM_SOUP_DO_SEND_HEARTBEAT;
        c->last_out_ns = now;
    }
}

uint64_t wm_soup_conn_deadline(const struct wm_soup_sessions *ss, const struct wm_soup_conn *c)
{
    if (c->state == WM_SOUP_AWAITING_LOGIN)
        return c->opened_ns + ss->cfg.login_timeout_ns + 1;
    if (c->state != WM_SOUP_ACTIVE)
        return UINT64_MAX;
    uint64_t hb = c->last_out_ns + ss->cfg.heartbeat_ns;
    uint64_t silent = c->last_in_ns + ss->cfg.client_timeout_ns + 1;
    uint64_t t = hb < silent ? hb : silent;
    uint64_t hold_end = c->accepted_ns + ss->cfg.sequenced_hold_ns;
    if (c->next_seq < ss->s[c->session].next_seq && hold_end < t && hold_end > c->accepted_ns)
        t = hold_end;
    return t;
}

int wm_soup_conn_queued(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                        uint32_t bytes, struct wm_soup_actions *act)
{
    act_clear(act);
    if (c->state == WM_SOUP_CLOSED)
        return 0;
    c->last_out_ns = now;
    uint64_t unsent = (uint64_t)c->unsent + bytes;
    if (unsent > ss->cfg.output_bound) {
        close_conn(ss, c, WM_SOUP_CLOSE_OUTPUT_BOUND, act);
        return WM_SOUP_CLOSE_OUTPUT_BOUND;
    }
    c->unsent = (uint32_t)unsent;
    return 0;
}

void wm_soup_conn_sent(struct wm_soup_conn *c, uint32_t bytes)
{
    c->unsent = bytes < c->unsent ? c->unsent - bytes : 0;
}

uint32_t wm_soup_conn_pending(struct wm_soup_sessions *ss, struct wm_soup_conn *c, uint64_t now,
                              uint64_t *from, uint32_t max)
{
    *from = c->next_seq;
    if (c->state != WM_SOUP_ACTIVE || now - c->accepted_ns < ss->cfg.sequenced_hold_ns)
        return 0;
    uint64_t next = ss->s[c->session].next_seq;
    uint64_t avail = next - c->next_seq;
    uint32_t n = avail < max ? (uint32_t)avail : max;
    *from = c->next_seq;
    if (n) {
        /* The part below the session's number at login is the replay. */
        uint64_t replay = c->next_seq < c->replay_end ? c->replay_end - c->next_seq : 0;
        if (replay > n)
            replay = n;
        ss->st.counts[WM_SOUP_REPLAYED_OUT] += replay;
        ss->st.counts[WM_SOUP_SEQUENCED_OUT] += n - replay;
        c->next_seq += n;
    }
    return n;
}

void wm_soup_conn_end_of_session(struct wm_soup_sessions *ss, struct wm_soup_conn *c,
                                 struct wm_soup_actions *act)
{
    act_clear(act);
    if (c->state == WM_SOUP_CLOSED)
        return;
    if (c->state == WM_SOUP_ACTIVE)
        act->todo |= WM_SOUP_DO_SEND_END_OF_SESSION;
    close_conn(ss, c, WM_SOUP_CLOSE_END_OF_SESSION, act);
}
